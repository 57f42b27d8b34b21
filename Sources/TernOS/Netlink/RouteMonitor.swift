internal import CTernOS
import TernProtocol
#if canImport(Glibc)
import Glibc
#endif

/// Listens to the kernel's rtnetlink announcements of links, addresses and routes (IPv4 and IPv6), so
/// the Mobile Node learns of a move the moment it happens instead of polling.
///
/// The monitor only says *that* something changed: what the change means for the path to the Home
/// Agent is asked afresh with ``RouteNetlink/lookupRoute(to:)``, which stays right however the events
/// were batched, reordered or lost (an overrun, ENOBUFS, is reported as a change too).
public final class RouteMonitor: @unchecked Sendable {
    public let descriptor: FileDescriptor
    private var buffer = [UInt8](repeating: 0, count: RouteNetlink.receiveBufferLength)

    /// The groups a Mobile Node cares about: links up and down, addresses, and routes, both families.
    public static let groups: UInt32 =
        RouteNetlinkMessage.RTMGRP_LINK | RouteNetlinkMessage.RTMGRP_IPV4_IFADDR | RouteNetlinkMessage.RTMGRP_IPV4_ROUTE
        | RouteNetlinkMessage.RTMGRP_IPV6_IFADDR | RouteNetlinkMessage.RTMGRP_IPV6_ROUTE
    /// Datagrams read per ``drainChanges()`` at most, so a storm of announcements cannot hold the caller.
    public static let maximumDatagramsPerDrain = 256

    /// Opens a non-blocking rtnetlink socket subscribed to ``groups``, in the calling thread's network
    /// namespace or, given `path` (e.g. `/var/run/netns/NAME`), in that one.
    public init(networkNamespace path: String? = nil) throws(NetlinkError) {
        if let path {
            descriptor = try RouteNetlink.openSocket(networkNamespace: path)
        } else {
            do { descriptor = try RouteNetlink.openSocket() } catch { throw .systemCall(error) }
        }
        do { try bindToGroups() } catch { throw .systemCall(error) }
    }

    private func bindToGroups() throws(SystemCallError) {
        try descriptor.setNonBlocking()
        var address = sockaddr_storage()
        withUnsafeMutableBytes(of: &address) { raw in
            raw.storeBytes(of: UInt16(AF_NETLINK), toByteOffset: 0, as: UInt16.self)  // nl_family
            raw.storeBytes(of: UInt32(0), toByteOffset: 4, as: UInt32.self)  // nl_pid: the kernel picks
            raw.storeBytes(of: Self.groups, toByteOffset: 8, as: UInt32.self)  // nl_groups
        }
        _ = try withUnsafeBytes(of: &address) { (raw) throws(SystemCallError) in
            try SystemCall.call("bind netlink route monitor") {
                Glibc.bind(
                    descriptor.rawValue, raw.baseAddress?.assumingMemoryBound(to: sockaddr.self),
                    socklen_t(RouteNetlink.socketAddressLength))
            }
        }
    }

    /// Reads every announcement waiting on the socket (up to ``maximumDatagramsPerDrain``) and returns
    /// how many datagrams there were; an overrun (ENOBUFS: the kernel dropped announcements) counts as
    /// one, since the caller must look again either way. 0 means nothing changed.
    public func drainChanges() throws(SystemCallError) -> Int {
        var changes = 0
        let fd = descriptor.rawValue
        for _ in 0..<Self.maximumDatagramsPerDrain {
            let outcome = buffer.withUnsafeMutableBytes { raw in
                Result { () throws(SystemCallError) -> Int? in
                    try SystemCall.nonBlocking("recv netlink route monitor") {
                        recv(fd, raw.baseAddress, raw.count, Int32(MSG_DONTWAIT))
                    }
                }
            }
            let received: Int?
            switch outcome {
            case .success(let value):
                received = value
            case .failure(let error) where error.errno == ENOBUFS:
                changes += 1
                continue
            case .failure(let error):
                throw error
            }
            guard let received else { break }
            if received > 0 { changes += 1 }
        }
        return changes
    }
}
