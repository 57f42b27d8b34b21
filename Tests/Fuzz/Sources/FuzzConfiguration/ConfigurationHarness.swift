// The YAML configuration loader (TernConfig) from bytes: a Home Agent config, a Mobile Node config or a
// key file. Input: a selector octet (0: Home Agent, 1: Mobile Node, 2: key file alone), then the config
// text; a NUL octet, if any, starts the key file's text, which every `keys:` path resolves to. Invalid
// UTF-8 is refused by the daemon before parsing (ConfigFile.read); here it reaches the parsers repaired.
import FuzzSupport
import TernConfig

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfiguration(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzedInput(data, size)
    let selector = input.byte() % 3
    let octets = input.rest()
    let split = octets.firstIndex(of: 0) ?? octets.count
    let config = String(decoding: UnsafeRawBufferPointer(rebasing: octets[0..<split]), as: UTF8.self)
    let keyText =
        split < octets.count ? String(decoding: UnsafeRawBufferPointer(rebasing: octets[(split + 1)...]), as: UTF8.self) : ""
    let keyLoader: KeyLoader = { path in try KeyFile.parse(keyText, path: path) }
    // The values and the error messages are built too: both reach the log.
    do {
        switch selector {
        case 0: _ = try HomeAgentConfiguration.parse(config, path: "/etc/tern/ha.yaml", keyLoader: keyLoader).description
        case 1: _ = try MobileNodeConfiguration.parse(config, path: "/etc/tern/mn.yaml", keyLoader: keyLoader).description
        default: _ = try KeyFile.parse(config, path: "/etc/tern/keys.yaml").description
        }
    } catch {
        _ = error.description
    }
    return 0
}
