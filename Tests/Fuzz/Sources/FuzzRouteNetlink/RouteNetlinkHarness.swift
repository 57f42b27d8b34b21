// rtnetlink replies and notifications (TernOS RouteNetlinkMessage.parse): what the kernel's netlink socket
// delivers, parsed without trusting any length in it.
import FuzzSupport
import TernOS

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRouteNetlink(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = FuzzedInput(data, size)
    guard let replies = try? RouteNetlinkMessage.parse(input.octets) else { return 0 }
    // Each message takes at least a header: no more replies than headers fit.
    fuzzCheck(replies.count <= input.octets.count / RouteNetlinkMessage.headerLength, "more replies than headers")
    for reply in replies { _ = String(describing: reply) }
    return 0
}
