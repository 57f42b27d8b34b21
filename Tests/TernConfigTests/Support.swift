import TernConfig
import Testing

/// Key files by path, parsed with `KeyFile.parse` when the config asks for them: parsing stays pure.
struct FakeKeyFiles {
    var files: [String: String]

    /// 20-octet ekeys and 20-octet ikeys: right for {13,01} and for the HMAC-SHA1 suites' ikey.
    static let gcm128AndSHA1 = """
        mn-to-ha-ekey: 000102030405060708090a0b0c0d0e0f10111213
        ha-to-mn-ekey: 202122232425262728292A2B2C2D2E2F30313233
        mn-to-ha-ikey: 404142434445464748494a4b4c4d4e4f50515253
        ha-to-mn-ikey: 606162636465666768696a6b6c6d6e6f70717273

        """

    func load(_ path: String) throws -> KeyMaterial {
        guard let text = files[path] else {
            throw ConfigurationError(file: path, message: "cannot open key file: No such file or directory (errno 2)")
        }
        return try KeyFile.parse(text, path: path)
    }
}

/// The error `body` throws, or a recorded failure.
func configurationError(
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws(ConfigurationError) -> Void
) -> ConfigurationError? {
    do {
        try body()
        Issue.record("expected a ConfigurationError", sourceLocation: sourceLocation)
        return nil
    } catch {
        return error
    }
}
