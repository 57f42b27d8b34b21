internal import CTernOS
public import TernProtocol
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A non-blocking UDP socket of one address family.
///
/// Offloads (udp(7)): on kernels with UDP_SEGMENT, ``DatagramBatch/send(_:on:refused:)`` hands the kernel
/// runs of equal-length datagrams as one message each, which the kernel (or the NIC) cuts up late; the
/// first refusal of that turns it off for the socket's life (``segmentationDisabledReason``). With
/// ``enableReceiveCoalescing()`` the kernel may deliver a run of datagrams from one peer in one read
/// (``DatagramBatch/segmentSize(_:)``).
public final class UDPSocket: @unchecked Sendable {
    public let descriptor: FileDescriptor
    /// True for AF_INET6 (IPv6 only: IPv4 peers get their own socket, so replies can name their source).
    public let isIPv6: Bool

    /// Read once per batch sent; any thread may turn it off.
    private let segmentation: Atomic<Bool>
    private let segmentationOff: Mutex<SystemCallError?>

    /// The socket buffer size asked for: large, because a batched sender fills it in bursts.
    public static let preferredBufferLength: Int32 = 4 << 20

    /// - Parameter receivePacketInfo: ask for IP_PKTINFO / IPV6_RECVPKTINFO on every datagram, so that a
    ///   reply can be sent from the address the peer used (DESIGN.md: Replies).
    public init(ipv6: Bool, receivePacketInfo: Bool) throws(SystemCallError) {
        let family = ipv6 ? AF_INET6 : AF_INET
        let fd = try SystemCall.call("socket(\(ipv6 ? "AF_INET6" : "AF_INET"), SOCK_DGRAM)") {
            tern_udp_socket(family)
        }
        descriptor = FileDescriptor(taking: fd)
        isIPv6 = ipv6
        // A kernel with UDP segmentation offload (Linux 4.18) knows the option; one without refuses it.
        var segmentSize: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        do {
            _ = try SystemCall.call("getsockopt UDP_SEGMENT") {
                getsockopt(fd, TERN_SOL_UDP, TERN_UDP_SEGMENT, &segmentSize, &length)
            }
            segmentation = Atomic(true)
            segmentationOff = Mutex(nil)
        } catch {
            segmentation = Atomic(false)
            segmentationOff = Mutex(error)
        }
        if ipv6 { try setOption(Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1, "IPV6_V6ONLY") }
        if receivePacketInfo {
            if ipv6 {
                try setOption(Int32(IPPROTO_IPV6), IPV6_RECVPKTINFO, 1, "IPV6_RECVPKTINFO")
            } else {
                try setOption(Int32(IPPROTO_IP), IP_PKTINFO, 1, "IP_PKTINFO")
            }
        }
        setBufferLengths(Self.preferredBufferLength)
    }

    // MARK: Offloads

    /// True while ``DatagramBatch/send(_:on:refused:)`` packs runs of datagrams into UDP_SEGMENT messages
    /// on this socket.
    public var sendsSegmented: Bool { segmentation.load(ordering: .relaxed) }

    /// Why this socket sends every datagram as its own message: nil while it segments; else the probe
    /// that found no UDP_SEGMENT in the kernel, the send the kernel refused (EIO: the egress device cannot
    /// checksum for it, or an IPsec policy; EINVAL: checksums turned off on the socket), or the reason
    /// given to ``disableSendSegmentation(because:)``. For the data plane's status.
    public var segmentationDisabledReason: SystemCallError? { segmentationOff.withLock { $0 } }

    /// Stops send segmentation on this socket for good; the first reason given is kept. Safe from any
    /// thread; a batch being sent at that moment may still go out segmented.
    public func disableSendSegmentation(because reason: SystemCallError) {
        segmentationOff.withLock { current in
            if current == nil { current = reason }
        }
        segmentation.store(false, ordering: .relaxed)
    }

    /// Turns on UDP_GRO (Linux 5.0): the kernel may then deliver a run of datagrams from one peer as one
    /// message, which ``DatagramBatch`` reports with ``DatagramBatch/segmentSize(_:)``. Its slots must then
    /// hold ``DatagramBatch/maximumCoalescedLength`` octets, or runs arrive truncated. Returns false when
    /// the kernel refused (it then delivers datagrams one by one, as before).
    public func enableReceiveCoalescing() -> Bool {
        (try? setOption(TERN_SOL_UDP, TERN_UDP_GRO, 1, "UDP_GRO")) != nil
    }

    /// Asks for `length`-octet send and receive buffers: past `net.core.*mem_max` with the FORCE
    /// options when privileged, else as much as the limits allow. Never fails: small buffers only cost
    /// speed.
    public func setBufferLengths(_ length: Int32) {
        for (force, plain) in [(SO_RCVBUFFORCE, SO_RCVBUF), (SO_SNDBUFFORCE, SO_SNDBUF)] {
            if (try? setOption(SOL_SOCKET, force, length, "SO_*BUFFORCE")) == nil {
                _ = try? setOption(SOL_SOCKET, plain, length, "SO_*BUF")
            }
        }
    }

    public func setOption(_ level: Int32, _ name: Int32, _ value: Int32, _ label: String) throws(SystemCallError) {
        var value = value
        _ = try SystemCall.call("setsockopt \(label)") {
            setsockopt(descriptor.rawValue, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    /// `SO_MARK` (socket(7)): every datagram this socket sends carries firewall mark `mark`, which policy
    /// routing rules may select on. Needs CAP_NET_ADMIN.
    public func setFirewallMark(_ mark: UInt32) throws(SystemCallError) {
        try setOption(SOL_SOCKET, UDPSocket.SO_MARK, Int32(bitPattern: mark), "SO_MARK \(mark)")
    }

    /// `SO_MARK` from asm-generic/socket.h (Glibc's module does not export it).
    public static let SO_MARK: Int32 = 36

    public func bind(_ address: SocketAddress) throws(SystemCallError) {
        var storage = sockaddr_in6()
        _ = try withUnsafeMutableBytes(of: &storage) { (raw) throws(SystemCallError) in
            let length = address.write(to: raw.baseAddress.unsafelyUnwrapped)
            return try SystemCall.call("bind \(address)") {
                Glibc.bind(descriptor.rawValue, raw.baseAddress?.assumingMemoryBound(to: sockaddr.self), socklen_t(length))
            }
        }
    }

    /// Fixes the peer: `send` needs no address and only that peer's datagrams are received.
    public func connect(_ address: SocketAddress) throws(SystemCallError) {
        var storage = sockaddr_in6()
        _ = try withUnsafeMutableBytes(of: &storage) { (raw) throws(SystemCallError) in
            let length = address.write(to: raw.baseAddress.unsafelyUnwrapped)
            return try SystemCall.call("connect \(address)") {
                Glibc.connect(descriptor.rawValue, raw.baseAddress?.assumingMemoryBound(to: sockaddr.self), socklen_t(length))
            }
        }
    }

    /// The address the socket is bound to (after `bind` or an implicit bind by `connect`).
    public func localAddress() throws(SystemCallError) -> SocketAddress {
        var storage = sockaddr_in6()
        var length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        _ = try withUnsafeMutableBytes(of: &storage) { (raw) throws(SystemCallError) in
            try SystemCall.call("getsockname") {
                getsockname(descriptor.rawValue, raw.baseAddress?.assumingMemoryBound(to: sockaddr.self), &length)
            }
        }
        guard let address = withUnsafeBytes(of: storage, { SocketAddress(reading: $0.baseAddress.unsafelyUnwrapped, length: Int(length)) })
        else { throw SystemCallError("getsockname: unexpected address family", errno: EAFNOSUPPORT) }
        return address
    }
}
