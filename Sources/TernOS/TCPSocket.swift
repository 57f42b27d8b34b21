internal import CTernOS
public import TernProtocol
#if canImport(Glibc)
import Glibc
#endif

/// A point in CLOCK_MONOTONIC time by which a blocking operation must finish.
///
/// Operations take a deadline rather than a timeout so that a sequence of them (connect, handshake, a
/// request, its answer) can share one budget: each step waits only for what is left.
public struct Deadline: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Nanoseconds of ``monotonicNanoseconds()``.
    public let nanoseconds: UInt64

    public init(nanoseconds: UInt64) {
        self.nanoseconds = nanoseconds
    }

    /// The deadline `seconds` from now.
    public static func after(seconds: Double) -> Deadline {
        let span = seconds <= 0 ? 0 : UInt64(min(seconds, 1e9) * 1e9)
        let now = monotonicNanoseconds()
        return Deadline(nanoseconds: now &+ span < now ? .max : now &+ span)
    }

    /// No deadline: wait for ever.
    public static let never = Deadline(nanoseconds: .max)

    /// Milliseconds left for poll(2), rounded up so that a wait never ends before the deadline; 0 once it
    /// has passed, −1 for ``never``.
    public var pollMilliseconds: Int32 {
        if self == .never { return -1 }
        let now = monotonicNanoseconds()
        guard nanoseconds > now else { return 0 }
        let milliseconds = (nanoseconds - now + 999_999) / 1_000_000
        return Int32(clamping: milliseconds)
    }

    public var hasPassed: Bool { self != .never && monotonicNanoseconds() >= nanoseconds }

    public static func < (lhs: Deadline, rhs: Deadline) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    public var description: String {
        self == .never ? "no deadline" : "deadline in \(Int64(nanoseconds) - Int64(monotonicNanoseconds())) ns"
    }
}

/// Waits until `descriptor` is readable (`POLLIN`) or writable (`POLLOUT`), or the deadline passes.
/// Errors and hang-ups count as ready: the next read or write reports them.
/// - Throws: `SystemCallError` with `ETIMEDOUT` (naming `operation`) when the deadline passes first.
func waitUntilReady(
    _ descriptor: Int32, events: Int32, deadline: Deadline, operation: @autoclosure () -> String
) throws(SystemCallError) {
    while true {
        var entry = pollfd(fd: descriptor, events: Int16(events), revents: 0)
        let timeout = deadline.pollMilliseconds
        let ready = try SystemCall.call("poll (\(operation()))") { poll(&entry, 1, timeout) }
        if ready > 0 { return }
        // poll may return a little early on coarse clocks; only the deadline itself decides.
        if deadline.hasPassed { throw SystemCallError("\(operation()) timed out", errno: ETIMEDOUT) }
    }
}

/// Reads the address a `sockaddr`-filling call (getsockname, getpeername, accept) writes.
private func readAddress(
    _ name: String, _ body: (UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32
) throws(SystemCallError) -> SocketAddress {
    var storage = sockaddr_in6()
    var length = socklen_t(MemoryLayout<sockaddr_in6>.size)
    _ = try withUnsafeMutableBytes(of: &storage) { (raw) throws(SystemCallError) in
        try SystemCall.call(name) { body(raw.baseAddress.unsafelyUnwrapped.assumingMemoryBound(to: sockaddr.self), &length) }
    }
    guard let address = withUnsafeBytes(of: storage, { SocketAddress(reading: $0.baseAddress.unsafelyUnwrapped, length: Int(length)) })
    else { throw SystemCallError("\(name): unexpected address family", errno: EAFNOSUPPORT) }
    return address
}

private func setIntOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32, _ label: String) throws(SystemCallError) {
    var value = value
    _ = try SystemCall.call("setsockopt \(label)") {
        setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
    }
}

/// A listening TCP socket (the HAC's, RFC 6618 §5 over TLS). Non-blocking and close-on-exec; ``accept(deadline:)``
/// waits with poll(2). An IPv6 listener is IPv6-only (IPV6_V6ONLY), as the UDP sockets are: a dual-stack
/// HAC opens one listener per family, so an address in a log line is never an IPv4-mapped one.
///
/// Thread safety: `accept` may be called from one thread at a time; the listener may be shared.
public final class TCPListener: @unchecked Sendable {
    public let descriptor: FileDescriptor
    /// Connections the kernel queues before `accept`; a HAC sees few, short connections.
    public static let defaultBacklog: Int32 = 64

    /// Opens a socket of `address`'s family with SO_REUSEADDR (a restarted HAC rebinds at once, past
    /// TIME_WAIT), binds it (port 0: the kernel chooses; see ``localAddress()``) and listens.
    public init(address: SocketAddress, backlog: Int32 = TCPListener.defaultBacklog) throws(SystemCallError) {
        let ipv6 = !address.address.isIPv4
        let fd = try SystemCall.call("socket(\(ipv6 ? "AF_INET6" : "AF_INET"), SOCK_STREAM)") {
            tern_tcp_socket(ipv6 ? AF_INET6 : AF_INET)
        }
        descriptor = FileDescriptor(taking: fd)
        try setIntOption(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR")
        if ipv6 { try setIntOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1, "IPV6_V6ONLY") }
        var storage = sockaddr_in6()
        _ = try withUnsafeMutableBytes(of: &storage) { (raw) throws(SystemCallError) in
            let length = address.write(to: raw.baseAddress.unsafelyUnwrapped)
            return try SystemCall.call("bind \(address)") {
                Glibc.bind(fd, raw.baseAddress?.assumingMemoryBound(to: sockaddr.self), socklen_t(length))
            }
        }
        _ = try SystemCall.call("listen \(address)") { Glibc.listen(fd, backlog) }
    }

    /// The bound address, with the kernel's port when bound to port 0.
    public func localAddress() throws(SystemCallError) -> SocketAddress {
        let fd = descriptor.rawValue
        return try readAddress("getsockname") { getsockname(fd, $0, $1) }
    }

    /// Waits for a connection until `deadline` and returns it (non-blocking, close-on-exec, TCP_NODELAY).
    /// - Throws: `SystemCallError` with `ETIMEDOUT` when no connection came in time.
    public func accept(deadline: Deadline = .never) throws(SystemCallError) -> TCPConnection {
        while true {
            if let connection = try acceptPending() { return connection }
            try waitUntilReady(descriptor.rawValue, events: Int32(POLLIN), deadline: deadline, operation: "accept")
        }
    }

    /// A connection the kernel has queued, or nil when none is (never waits): for callers that poll the
    /// listener among other descriptors.
    public func acceptPending() throws(SystemCallError) -> TCPConnection? {
        let fd = descriptor.rawValue
        var storage = sockaddr_in6()
        var length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        let accepted = try withUnsafeMutableBytes(of: &storage) { (raw) throws(SystemCallError) in
            try SystemCall.nonBlocking("accept4") {
                tern_accept(fd, raw.baseAddress?.assumingMemoryBound(to: sockaddr.self), &length)
            }
        }
        guard let accepted else { return nil }
        let peer = withUnsafeBytes(of: storage) { SocketAddress(reading: $0.baseAddress.unsafelyUnwrapped, length: Int(length)) }
        let connection = TCPConnection(taking: FileDescriptor(taking: accepted), peer: peer)
        try connection.setNoDelay()
        return connection
    }
}

/// A connected TCP stream, non-blocking underneath, with blocking reads and writes bounded by deadlines.
///
/// Thread safety: one reader and one writer at a time (a TLS session uses it from one thread).
public final class TCPConnection: @unchecked Sendable {
    public let descriptor: FileDescriptor
    /// The peer's address (from accept or connect); nil only if the kernel reported an unknown family.
    public let peerAddress: SocketAddress?

    init(taking descriptor: FileDescriptor, peer: SocketAddress?) {
        self.descriptor = descriptor
        self.peerAddress = peer
    }

    /// Connects to `address`, waiting until `deadline` for the handshake (a non-blocking connect(2), then
    /// poll(2) for writability and SO_ERROR for the outcome).
    /// - Parameter firewallMark: set with ``setFirewallMark(_:)`` before the SYN goes out, so that the
    ///   connection's route is chosen with it (the Mobile Node's full tunnel keeps its connection to the HAC
    ///   outside the tunnel this way).
    /// - Throws: `SystemCallError` naming `connect` and the address: `ECONNREFUSED`, `ENETUNREACH`, …, or
    ///   `ETIMEDOUT` when the deadline passes first.
    public static func connect(
        to address: SocketAddress, deadline: Deadline, firewallMark: UInt32? = nil
    ) throws(SystemCallError) -> TCPConnection {
        let ipv6 = !address.address.isIPv4
        let fd = try SystemCall.call("socket(\(ipv6 ? "AF_INET6" : "AF_INET"), SOCK_STREAM)") {
            tern_tcp_socket(ipv6 ? AF_INET6 : AF_INET)
        }
        let connection = TCPConnection(taking: FileDescriptor(taking: fd), peer: address)
        if let firewallMark { try connection.setFirewallMark(firewallMark) }
        var storage = sockaddr_in6()
        let immediate: Bool
        do {
            immediate = try withUnsafeMutableBytes(of: &storage) { (raw) throws(SystemCallError) in
                let length = address.write(to: raw.baseAddress.unsafelyUnwrapped)
                return try SystemCall.nonBlocking("connect \(address)") {
                    Glibc.connect(fd, raw.baseAddress?.assumingMemoryBound(to: sockaddr.self), socklen_t(length))
                } != nil
            }
        } catch where error.errno == EINPROGRESS {
            immediate = false
        }
        if !immediate {
            try waitUntilReady(fd, events: Int32(POLLOUT), deadline: deadline, operation: "connect \(address)")
            var failure: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            _ = try SystemCall.call("getsockopt SO_ERROR") { getsockopt(fd, SOL_SOCKET, SO_ERROR, &failure, &length) }
            if failure != 0 { throw SystemCallError("connect \(address)", errno: failure) }
        }
        try connection.setNoDelay()
        return connection
    }

    /// TCP_NODELAY: the MN–HAC exchange is lock-step with small messages, where Nagle's algorithm and
    /// delayed ACKs together would add tens of milliseconds to every round.
    func setNoDelay() throws(SystemCallError) {
        try setIntOption(descriptor.rawValue, Int32(IPPROTO_TCP), TCP_NODELAY, 1, "TCP_NODELAY")
    }

    /// `SO_MARK` (socket(7)), as ``UDPSocket/setFirewallMark(_:)``: every segment this socket sends
    /// carries firewall mark `mark`, which policy routing rules may select on. Set it before connecting:
    /// the route is chosen at connect(2). Needs CAP_NET_ADMIN.
    public func setFirewallMark(_ mark: UInt32) throws(SystemCallError) {
        try setIntOption(descriptor.rawValue, SOL_SOCKET, UDPSocket.SO_MARK, Int32(bitPattern: mark), "SO_MARK \(mark)")
    }

    public func localAddress() throws(SystemCallError) -> SocketAddress {
        let fd = descriptor.rawValue
        return try readAddress("getsockname") { getsockname(fd, $0, $1) }
    }

    /// Reads what is available, up to `buffer.count` octets, waiting until `deadline` for at least one.
    /// Returns 0 when the peer has closed its side (end of stream).
    /// - Throws: `SystemCallError` (`ECONNRESET`, …), or `ETIMEDOUT` when nothing came in time.
    public func read(into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline) throws(SystemCallError) -> Int {
        while true {
            if let count = try readAvailable(into: buffer) { return count }
            try waitUntilReady(descriptor.rawValue, events: Int32(POLLIN), deadline: deadline, operation: "recv")
        }
    }

    /// Reads what is available without waiting: nil when nothing is, 0 at the end of the stream.
    public func readAvailable(into buffer: UnsafeMutableRawBufferPointer) throws(SystemCallError) -> Int? {
        let fd = descriptor.rawValue
        return try SystemCall.nonBlocking("recv") { recv(fd, buffer.baseAddress, buffer.count, 0) }
    }

    /// Writes all of `bytes`, waiting until `deadline` for room in the socket buffer. MSG_NOSIGNAL: a
    /// peer that went away is an EPIPE error here, never a SIGPIPE that ends the daemon.
    /// - Throws: `SystemCallError` (`EPIPE`, `ECONNRESET`, …), or `ETIMEDOUT` when the peer does not read
    ///   in time.
    public func write(_ bytes: UnsafeRawBufferPointer, deadline: Deadline) throws(SystemCallError) {
        var offset = 0
        while offset < bytes.count {
            if let count = try writeAvailable(UnsafeRawBufferPointer(rebasing: bytes[offset...])) {
                offset += count
            } else {
                try waitUntilReady(descriptor.rawValue, events: Int32(POLLOUT), deadline: deadline, operation: "send")
            }
        }
    }

    /// Writes as much of `bytes` as the socket buffer takes now, without waiting: how many octets, or nil
    /// when it takes none. MSG_NOSIGNAL, as ``write(_:deadline:)``.
    public func writeAvailable(_ bytes: UnsafeRawBufferPointer) throws(SystemCallError) -> Int? {
        let fd = descriptor.rawValue
        return try SystemCall.nonBlocking("send") { send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Ends our direction of the stream (shutdown(2) SHUT_WR): the peer reads end-of-stream after what
    /// was sent. ENOTCONN (the peer already reset the connection) is not an error here.
    public func shutdownWrite() throws(SystemCallError) {
        let fd = descriptor.rawValue
        do {
            _ = try SystemCall.call("shutdown SHUT_WR") { Glibc.shutdown(fd, Int32(SHUT_WR)) }
        } catch where error.errno == ENOTCONN {
        }
    }
}
