// The control-socket protocol (TernOS ControlRequest): one request line. What parses must print back as a
// line that parses to the same request.
import FuzzSupport
import TernOS

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzControlRequest(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = FuzzedInput(data, size)
    guard let request = ControlRequest.parse(input.octets) else { return 0 }
    let line = Array(request.line.utf8)
    fuzzCheck(line.count <= ControlRequest.maximumLength, "a parsed request's line is over the limit")
    fuzzCheck(ControlRequest.parse(line + [0x0A]) == request, "\(request) does not survive its own line")
    return 0
}
