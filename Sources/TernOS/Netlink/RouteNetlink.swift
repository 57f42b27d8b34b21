internal import CTernOS
public import TernProtocol
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A failed rtnetlink request: what was asked, and what went wrong.
public enum NetlinkError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A system call failed (socket, bind, send, poll, recv, setns ...).
    case systemCall(SystemCallError)
    /// The kernel refused `operation` with `errno`; `message` is its own explanation when it gave one.
    case kernelRefused(operation: String, errno: Int32, message: String?)
    /// No acknowledgement for `operation` within `milliseconds`.
    case timedOut(operation: String, milliseconds: Int32)
    /// The kernel's answer to `operation` did not parse.
    case malformedReply(operation: String, reason: String)
    /// `operation` could not be expressed as a request (an impossible MTU or interface name).
    case invalidRequest(operation: String, reason: String)

    /// The kernel's errno, for a refusal.
    public var errno: Int32? {
        if case .kernelRefused(_, let errno, _) = self { return errno }
        return nil
    }

    /// True when the kernel refused because the thing (address, route, interface) is not there:
    /// ENOENT, ESRCH, EADDRNOTAVAIL or ENODEV. Cleanup that deletes may ignore these.
    public var isNotFound: Bool {
        guard let errno else { return false }
        return NetlinkError.notFoundErrors.contains(errno)
    }

    /// The errnos that mean "not there" (see ``isNotFound``).
    public static let notFoundErrors: Set<Int32> = [ENOENT, ESRCH, EADDRNOTAVAIL, ENODEV]

    public var description: String {
        switch self {
        case .systemCall(let error):
            return "netlink: \(error)"
        case .kernelRefused(let operation, let errno, let message):
            let reason = "\(String(cString: strerror(errno))) (errno \(errno))"
            return "\(operation): refused by the kernel: \(reason)" + (message.map { ": \($0)" } ?? "")
        case .timedOut(let operation, let milliseconds):
            return "\(operation): no answer from the kernel within \(milliseconds) ms"
        case .malformedReply(let operation, let reason):
            return "\(operation): malformed netlink reply: \(reason)"
        case .invalidRequest(let operation, let reason):
            return "\(operation): \(reason)"
        }
    }
}

/// An rtnetlink socket (AF_NETLINK, NETLINK_ROUTE) that configures interfaces, addresses and routes in
/// its network namespace, in place of `ip` subprocesses.
///
/// Each request is sent with NLM_F_REQUEST | NLM_F_ACK and waits, at most ``timeoutMilliseconds``, for
/// the kernel's acknowledgement with the same sequence number. Requests are serialized: the object may
/// be shared between threads, and one request is in flight at a time.
///
/// A netlink socket belongs to the network namespace of the thread that created it, for good:
/// ``init(networkNamespace:timeoutMilliseconds:)`` creates one inside another namespace.
public final class RouteNetlink: Sendable {
    /// How long a request waits for its acknowledgement unless told otherwise.
    public static let defaultTimeoutMilliseconds: Int32 = 2_000
    /// Octets read per datagram; as iproute2, enough for any reply to these requests.
    public static let receiveBufferLength = 32 * 1024
    /// `sizeof(struct sockaddr_nl)`: family, pad, port id, groups.
    static let socketAddressLength = 12
    /// `CLONE_NEWNET` (linux/sched.h), for setns(2).
    static let CLONE_NEWNET: Int32 = 0x4000_0000

    private let descriptor: FileDescriptor
    public let timeoutMilliseconds: Int32

    private struct State {
        var sequence: UInt32
        var buffer: [UInt8]
    }
    private let state: Mutex<State>

    /// Opens an rtnetlink socket in the calling thread's network namespace.
    public convenience init(timeoutMilliseconds: Int32 = RouteNetlink.defaultTimeoutMilliseconds) throws(NetlinkError) {
        let descriptor: FileDescriptor
        do { descriptor = try Self.openSocket() } catch { throw .systemCall(error) }
        try self.init(descriptor: descriptor, timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Opens an rtnetlink socket inside the network namespace at `path` (e.g. `/var/run/netns/NAME`,
    /// or `/proc/PID/ns/net`), without moving the calling thread: a short-lived thread enters the
    /// namespace (setns), creates the socket and exits; the socket stays in that namespace.
    public convenience init(
        networkNamespace path: String, timeoutMilliseconds: Int32 = RouteNetlink.defaultTimeoutMilliseconds
    ) throws(NetlinkError) {
        try self.init(descriptor: try Self.openSocket(networkNamespace: path), timeoutMilliseconds: timeoutMilliseconds)
    }

    /// An rtnetlink socket inside the network namespace at `path`, opened without moving the calling
    /// thread: a short-lived thread enters the namespace (setns), creates the socket and exits; the
    /// socket stays in that namespace.
    static func openSocket(networkNamespace path: String) throws(NetlinkError) -> FileDescriptor {
        let box = NamespaceSocketBox()
        let thread: PlatformThread
        do {
            thread = try PlatformThread(name: "tern-netns") {
                box.result = Result { () throws(SystemCallError) -> FileDescriptor in
                    let namespace = FileDescriptor(
                        taking: try SystemCall.call("open network namespace \(path)") {
                            open(path, O_RDONLY | O_CLOEXEC)
                        })
                    try Self.enterNetworkNamespace(namespace, path: path)
                    return try Self.openSocket()
                }.mapError { NetlinkError.systemCall($0) }
            }
        } catch {
            throw .systemCall(error)
        }
        thread.join()  // orders the thread's write of `box.result` before this read
        return try box.result.get()
    }

    private init(descriptor: FileDescriptor, timeoutMilliseconds: Int32) throws(NetlinkError) {
        self.descriptor = descriptor
        self.timeoutMilliseconds = max(timeoutMilliseconds, 1)
        // Sequence numbers start from the clock, as iproute2's do, so two sockets' requests differ.
        let start = UInt32(truncatingIfNeeded: monotonicNanoseconds() / 1_000_000)
        state = Mutex(State(sequence: start, buffer: [UInt8](repeating: 0, count: Self.receiveBufferLength)))
        do {
            try bind()
        } catch {
            throw .systemCall(error)
        }
        // Shorter error replies and the kernel's explanations; older kernels lack them, which costs
        // only detail.
        setOption(RouteNetlinkMessage.NETLINK_CAP_ACK, "NETLINK_CAP_ACK")
        setOption(RouteNetlinkMessage.NETLINK_EXT_ACK, "NETLINK_EXT_ACK")
    }

    // MARK: Requests

    /// Sets the link up or down (IFF_UP) and, when given, its MTU.
    public func setLink(index: UInt32, up: Bool, mtu: Int?) throws(NetlinkError) {
        var mtuValue: UInt32?
        if let mtu {
            guard let value = UInt32(exactly: mtu), value > 0 else {
                throw .invalidRequest(operation: "set interface index \(index) MTU \(mtu)", reason: "not a possible MTU")
            }
            mtuValue = value
        }
        try perform { RouteNetlinkMessage.setLink(index: index, up: up, mtu: mtuValue, sequence: $0) }
    }

    /// Adds `prefix` (an address and its prefix length) to the interface, replacing it if present.
    /// IPv6 addresses skip duplicate address detection and are usable at once.
    public func addAddress(_ prefix: IPPrefix, interfaceIndex: UInt32) throws(NetlinkError) {
        try perform { RouteNetlinkMessage.address(.add, prefix, interfaceIndex: interfaceIndex, sequence: $0) }
    }

    /// Deletes `prefix` from the interface. An absent address fails with ``NetlinkError/isNotFound``.
    public func deleteAddress(_ prefix: IPPrefix, interfaceIndex: UInt32) throws(NetlinkError) {
        try perform { RouteNetlinkMessage.address(.delete, prefix, interfaceIndex: interfaceIndex, sequence: $0) }
    }

    /// Adds (or replaces) a device route to `destination` out of the interface, in `table` (nil: main)
    /// with `metric` (nil: the kernel's default).
    public func addRoute(
        _ destination: IPPrefix, interfaceIndex: UInt32, table: UInt32? = nil, metric: UInt32? = nil
    ) throws(NetlinkError) {
        try perform {
            RouteNetlinkMessage.route(
                .add, destination, interfaceIndex: interfaceIndex, table: table, metric: metric, sequence: $0)
        }
    }

    /// Deletes the route that ``addRoute(_:interfaceIndex:table:metric:)`` added with the same
    /// arguments. An absent route fails with ``NetlinkError/isNotFound``.
    public func deleteRoute(
        _ destination: IPPrefix, interfaceIndex: UInt32, table: UInt32? = nil, metric: UInt32? = nil
    ) throws(NetlinkError) {
        try perform {
            RouteNetlinkMessage.route(
                .delete, destination, interfaceIndex: interfaceIndex, table: table, metric: metric, sequence: $0)
        }
    }

    /// Adds a policy routing rule (`ip rule add`). An identical rule already there fails with EEXIST.
    public func addRule(_ rule: RouteNetlinkMessage.Rule) throws(NetlinkError) {
        try perform { RouteNetlinkMessage.rule(.add, rule, sequence: $0) }
    }

    /// Deletes a policy routing rule (`ip rule del`). An absent rule fails with
    /// ``NetlinkError/isNotFound``.
    public func deleteRule(_ rule: RouteNetlinkMessage.Rule) throws(NetlinkError) {
        try perform { RouteNetlinkMessage.rule(.delete, rule, sequence: $0) }
    }

    /// The index of interface `name` in this socket's network namespace (RTM_GETLINK), which may not be
    /// the caller's (see ``interfaceIndex(named:)``). An absent interface fails with
    /// ``NetlinkError/isNotFound``.
    public func linkIndex(named name: String) throws(NetlinkError) -> UInt32 {
        let replies = try perform { (sequence) throws(NetlinkError) in
            guard let request = RouteNetlinkMessage.getLink(named: name, sequence: sequence) else {
                throw .invalidRequest(operation: "look up interface '\(name)'", reason: "not an interface name")
            }
            return request
        }
        for reply in replies {
            if case .link(let index, _) = reply.content, index != 0 { return index }
        }
        throw .malformedReply(operation: "look up interface '\(name)'", reason: "acknowledged without an RTM_NEWLINK")
    }

    /// Where a packet to `destination` would go now (RTM_GETROUTE, as `ip route get`): the output
    /// interface, the gateway and the source address the kernel would choose. No route fails with
    /// ``NetlinkError/kernelRefused(operation:errno:message:)`` (ENETUNREACH, EHOSTUNREACH …).
    ///
    /// With `mark`, the answer is the route a packet with that firewall mark takes (RTA_MARK): the
    /// route a datagram from a socket with SO_MARK `mark` would take, which policy rules may send
    /// elsewhere than an unmarked packet (the Mobile Node's full tunnel).
    public func lookupRoute(to destination: IPAddress, mark: UInt32? = nil) throws(NetlinkError) -> RouteAnswer {
        let replies = try perform { RouteNetlinkMessage.getRoute(to: destination, mark: mark, sequence: $0) }
        for reply in replies {
            if case .route(let answer) = reply.content { return answer }
        }
        throw .malformedReply(
            operation: "look up the route to \(destination)", reason: "acknowledged without an RTM_NEWROUTE")
    }

    /// The index of interface `name` in the calling thread's network namespace (if_nametoindex).
    public static func interfaceIndex(named name: String) throws(NetlinkError) -> UInt32 {
        guard !name.isEmpty, name.utf8.count <= RouteNetlinkMessage.maximumInterfaceNameLength else {
            throw .invalidRequest(operation: "look up interface '\(name)'", reason: "not an interface name (1–15 octets)")
        }
        do {
            let index = try SystemCall.call("if_nametoindex \(name)") { () -> Int64 in
                let index = tern_if_index(name)
                return index == 0 ? -1 : Int64(index)
            }
            return UInt32(truncatingIfNeeded: index)
        } catch {
            throw .systemCall(error)
        }
    }

    // MARK: Exchange

    /// Builds a request with the next sequence number, sends it, and collects the messages answering it
    /// up to its acknowledgement.
    @discardableResult
    private func perform(
        _ build: (UInt32) throws(NetlinkError) -> RouteNetlinkRequest
    ) throws(NetlinkError) -> [RouteNetlinkReply] {
        try state.withLock { (state: inout State) throws(NetlinkError) -> [RouteNetlinkReply] in
            state.sequence &+= 1
            if state.sequence == 0 { state.sequence = 1 }
            let request = try build(state.sequence)
            try send(request)
            return try awaitAcknowledgement(of: request, buffer: &state.buffer)
        }
    }

    private func send(_ request: RouteNetlinkRequest) throws(NetlinkError) {
        // Array's withUnsafeBytes rethrows untyped errors, so the typed failure travels in a Result.
        let sent = try request.bytes.withUnsafeBytes { raw in
            Result { () throws(SystemCallError) -> Int in
                try SystemCall.call("send netlink request (\(request.operation))") {
                    Glibc.send(descriptor.rawValue, raw.baseAddress, raw.count, 0)
                }
            }
        }.mapError { NetlinkError.systemCall($0) }.get()
        guard sent == request.bytes.count else {
            let what = "send netlink request (\(request.operation)): \(sent) of \(request.bytes.count) octets sent"
            throw .systemCall(SystemCallError(what, errno: EMSGSIZE))
        }
    }

    private func awaitAcknowledgement(
        of request: RouteNetlinkRequest, buffer: inout [UInt8]
    ) throws(NetlinkError) -> [RouteNetlinkReply] {
        let deadline = monotonicNanoseconds() + UInt64(timeoutMilliseconds) * 1_000_000
        var answers: [RouteNetlinkReply] = []
        while true {
            let now = monotonicNanoseconds()
            guard now < deadline else { throw .timedOut(operation: request.operation, milliseconds: timeoutMilliseconds) }
            let remaining = Int32(clamping: (deadline - now + 999_999) / 1_000_000)
            guard let length = try receive(into: &buffer, waitingAtMost: remaining, operation: request.operation) else {
                continue
            }
            let replies: [RouteNetlinkReply]
            do {
                replies = try RouteNetlinkMessage.parse(buffer[0..<length])
            } catch {
                throw .malformedReply(operation: request.operation, reason: error.reason)
            }
            // Replies to earlier requests that timed out carry other sequence numbers: skip them.
            for reply in replies where reply.sequence == request.sequence {
                switch reply.content {
                case .acknowledgement, .done:
                    return answers
                case .error(let errno, let message):
                    throw .kernelRefused(operation: request.operation, errno: errno, message: message)
                case .overrun:
                    throw .malformedReply(operation: request.operation, reason: "NLMSG_OVERRUN: the kernel lost data")
                case .noop:
                    continue
                case .link, .route, .other:
                    answers.append(reply)
                }
            }
        }
    }

    /// Waits up to `milliseconds` for a datagram from the kernel and reads it into `buffer`. Returns its
    /// length, or nil when none came (or one came from another sender, which is dropped).
    private func receive(
        into buffer: inout [UInt8], waitingAtMost milliseconds: Int32, operation: String
    ) throws(NetlinkError) -> Int? {
        var entry = pollfd(fd: descriptor.rawValue, events: Int16(POLLIN), revents: 0)
        var sender = sockaddr_storage()
        var senderLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ready: Int32
        do {
            ready = try SystemCall.call("poll netlink (\(operation))") { poll(&entry, 1, milliseconds) }
        } catch {
            throw .systemCall(error)
        }
        guard ready > 0 else { return nil }
        let descriptor = self.descriptor.rawValue
        let received = try buffer.withUnsafeMutableBytes { raw in
            withUnsafeMutableBytes(of: &sender) { address in
                Result { () throws(SystemCallError) -> Int? in
                    try SystemCall.nonBlocking("recvfrom netlink (\(operation))") {
                        recvfrom(
                            descriptor, raw.baseAddress, raw.count, Int32(MSG_DONTWAIT) | Int32(MSG_TRUNC),
                            address.baseAddress?.assumingMemoryBound(to: sockaddr.self), &senderLength)
                    }
                }
            }
        }.mapError { NetlinkError.systemCall($0) }.get()
        guard let received else { return nil }
        guard received <= buffer.count else {
            throw .malformedReply(
                operation: operation, reason: "a \(received)-octet datagram exceeds the \(buffer.count)-octet buffer")
        }
        // Only the kernel (port id 0) answers requests.
        let senderPortID = withUnsafeBytes(of: &sender) { raw -> UInt32? in
            guard Int(senderLength) >= Self.socketAddressLength else { return nil }
            return raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
        }
        guard senderPortID == 0 else { return nil }
        return received
    }

    // MARK: Socket

    static func openSocket() throws(SystemCallError) -> FileDescriptor {
        let fd = try SystemCall.call("socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE)") {
            socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), RouteNetlinkMessage.NETLINK_ROUTE)
        }
        return FileDescriptor(taking: fd)
    }

    /// Binds to port id 0, so the kernel picks a unique one.
    private func bind() throws(SystemCallError) {
        var address = sockaddr_storage()
        withUnsafeMutableBytes(of: &address) { raw in
            raw.storeBytes(of: UInt16(AF_NETLINK), toByteOffset: 0, as: UInt16.self)  // nl_family
            raw.storeBytes(of: UInt32(0), toByteOffset: 4, as: UInt32.self)  // nl_pid
            raw.storeBytes(of: UInt32(0), toByteOffset: 8, as: UInt32.self)  // nl_groups: no multicast
        }
        _ = try withUnsafeBytes(of: &address) { (raw) throws(SystemCallError) in
            try SystemCall.call("bind netlink") {
                Glibc.bind(
                    descriptor.rawValue, raw.baseAddress?.assumingMemoryBound(to: sockaddr.self),
                    socklen_t(Self.socketAddressLength))
            }
        }
    }

    private func setOption(_ name: Int32, _ label: String) {
        var one: Int32 = 1
        _ = try? SystemCall.call("setsockopt \(label)") {
            setsockopt(
                descriptor.rawValue, RouteNetlinkMessage.SOL_NETLINK, name, &one, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    /// Moves the calling thread into the network namespace open as `namespace` (setns(2), through
    /// CTernOS because Glibc's Swift module does not export it).
    private static func enterNetworkNamespace(_ namespace: FileDescriptor, path: String) throws(SystemCallError) {
        _ = try SystemCall.call("setns \(path) CLONE_NEWNET") { tern_setns(namespace.rawValue, CLONE_NEWNET) }
    }
}

/// Carries the socket (or the failure) out of the namespace thread; written before `join`, read after.
private final class NamespaceSocketBox: @unchecked Sendable {
    var result: Result<FileDescriptor, NetlinkError> = .failure(
        .systemCall(SystemCallError("network namespace thread", errno: ECHILD)))
}
