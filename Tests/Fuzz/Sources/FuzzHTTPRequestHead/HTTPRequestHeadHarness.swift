// The metrics endpoint's request parser (TernProtocol HTTPRequestHead): whatever reaches the metrics port.
// The input is offered as it would arrive, in growing prefixes: a prefix's verdict may only move from
// incomplete to complete or malformed, and a complete head must lie within the octets given.
import FuzzSupport
import TernProtocol

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPRequestHead(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = FuzzedInput(data, size)
    let whole = HTTPRequestHead.parse(input.octets)
    if case .complete(let head, let length) = whole {
        fuzzCheck(length > 0 && length <= input.octets.count, "head length \(length) outside the \(input.octets.count) octets")
        fuzzCheck(head.method.utf8.count <= HTTPRequestHead.maximumMethodLength, "method longer than the limit")
        // The same head, followed by anything, parses the same.
        let again = HTTPRequestHead.parse(UnsafeRawBufferPointer(rebasing: input.octets[0..<length]))
        fuzzCheck(again == whole, "the head alone parses differently: \(again) vs \(whole)")
    }
    // A prefix cut at the middle: never complete past the cut.
    let cut = input.octets.count / 2
    if case .complete(_, let length) = HTTPRequestHead.parse(UnsafeRawBufferPointer(rebasing: input.octets[0..<cut])) {
        fuzzCheck(length <= cut, "head of a prefix longer than the prefix")
    }
    return 0
}
