internal import CTernOS
import Synchronization
public import TernProtocol
#if canImport(Glibc)
import Glibc
#endif

/// The Prometheus scrape endpoint: a small HTTP/1.1 responder on a thread of its own. `GET /metrics`
/// (and `HEAD`) answer 200 with what `render` returns, in the text exposition format; any other path is
/// 404, any other method 405, anything that does not parse 400, a head over
/// ``maximumRequestLength`` 431. Every response closes the connection.
///
/// One thread, non-blocking sockets, one poll(2) over the stop eventfd, the listener and the open
/// connections. Idle, it sleeps in poll without a timeout (DESIGN.md: idle is idle); a timeout is armed
/// only while a connection is open, for its deadline. No Dispatch, no Swift concurrency, no NIO.
///
/// Limits against a hostile or broken client: ``maximumRequestLength`` octets of request head,
/// ``connectionSeconds`` from accept to the last octet of the response, ``maximumConnections`` open at
/// once (more wait in the kernel's accept queue until one closes).
public final class MetricsHTTPServer: @unchecked Sendable {
    /// The largest request head read: a scraper sends a few hundred octets.
    public static let maximumRequestLength = 8 * 1024
    /// Time a client has, from accept, to send its request and read the response.
    public static let connectionSeconds = 2.0
    /// Connections served at once; Prometheus scrapes one at a time per target.
    public static let maximumConnections = 8
    /// How long the listener is left alone after accept(2) failed for want of descriptors or memory, so
    /// that a listener the kernel keeps reporting readable does not spin the thread.
    static let acceptBackoffSeconds = 0.1
    public static let path = "/metrics"
    /// The Prometheus text exposition format, version 0.0.4.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// What happened, for the log (never request content).
    public enum Event: Sendable {
        /// A request was answered (or refused) with `status`.
        case answered(peer: String, status: Int, request: String)
        /// The server stopped serving: a system call failed in a way it cannot recover from.
        case failed(SystemCallError)
    }

    /// Nil once stopped: the port is free again.
    private var listener: TCPListener?
    private let address: SocketAddress
    private let wakeUp: Notifier
    private let stopping = Atomic<Bool>(false)
    private let polls = Atomic<Int>(0)
    private var thread: PlatformThread?

    /// Binds and listens on `address` (port 0: the kernel chooses; see ``localAddress()``). Nothing is
    /// served until ``start(render:events:)``.
    public init(address: SocketAddress) throws(SystemCallError) {
        let listener = try TCPListener(address: address, backlog: Int32(Self.maximumConnections))
        self.listener = listener
        self.address = (try? listener.localAddress()) ?? address
        wakeUp = try Notifier()
    }

    /// The bound address, with the kernel's port when the requested one was 0.
    public func localAddress() -> SocketAddress { address }

    /// How many times the thread has returned from poll(2): what the tests watch to see that an idle
    /// endpoint sleeps.
    public var wakeUps: Int { polls.load(ordering: .relaxed) }

    /// Starts the thread. `render` runs on it for each GET or HEAD of ``path``.
    public func start(
        render: @escaping @Sendable () -> [UInt8], events: @escaping @Sendable (Event) -> Void = { _ in }
    ) throws(SystemCallError) {
        guard let listener else { throw SystemCallError("metrics server stopped", errno: EBADF) }
        thread = try PlatformThread(name: "tern-metrics") { [self] in
            serve(listener, render: render, events: events)
        }
    }

    /// Stops the thread, closes every connection and the listening socket. Idempotent; not to be called
    /// from two threads at once.
    public func stop() {
        stopping.store(true, ordering: .releasing)
        wakeUp.signal()
        thread?.join()
        thread = nil
        listener = nil
    }

    /// What to answer to a parsed request head (pure; `render` is called only for the metrics).
    public static func response(to head: HTTPRequestHead, render: () -> [UInt8]) -> HTTPResponse {
        guard head.path == path else { return HTTPResponse(status: 404) }
        guard head.method == "GET" || head.method == "HEAD" else {
            return HTTPResponse(status: 405, headers: [("Allow", "GET, HEAD")])
        }
        return HTTPResponse(status: 200, contentType: contentType, body: render())
    }

    // MARK: The thread

    private struct Connection {
        let socket: TCPConnection
        let peer: String
        let deadline: Deadline
        var request: [UInt8] = []
        var response: [UInt8] = []
        var sent = 0
    }

    private func serve(
        _ listener: TCPListener, render: @escaping @Sendable () -> [UInt8], events: @escaping @Sendable (Event) -> Void
    ) {
        var connections: [Connection] = []
        var entries: [pollfd] = []
        var scratch = [UInt8](repeating: 0, count: 4096)
        var acceptPausedUntil: Deadline?
        while !stopping.load(ordering: .acquiring) {
            if let paused = acceptPausedUntil, paused.hasPassed { acceptPausedUntil = nil }
            let accepting = connections.count < Self.maximumConnections && acceptPausedUntil == nil
            entries.removeAll(keepingCapacity: true)
            entries.append(pollfd(fd: wakeUp.descriptor.rawValue, events: Int16(POLLIN), revents: 0))
            // A negative descriptor is skipped by poll(2): the listener waits while the server is full.
            entries.append(pollfd(fd: accepting ? listener.descriptor.rawValue : -1, events: Int16(POLLIN), revents: 0))
            for connection in connections {
                let events = connection.response.isEmpty ? POLLIN : POLLOUT
                entries.append(pollfd(fd: connection.socket.descriptor.rawValue, events: Int16(events), revents: 0))
            }
            // No timeout unless something is due: a connection's deadline, or the end of an accept pause.
            let due = (connections.map(\.deadline) + (acceptPausedUntil.map { [$0] } ?? [])).min()
            let timeout = due?.pollMilliseconds ?? -1
            do {
                let count = nfds_t(entries.count)
                _ = try entries.withUnsafeMutableBufferPointer { (buffer) throws(SystemCallError) in
                    try SystemCall.call("poll (metrics)") { poll(buffer.baseAddress, count, timeout) }
                }
            } catch {
                return events(.failed(error))
            }
            polls.add(1, ordering: .relaxed)
            if entries[0].revents != 0 { wakeUp.drain() }
            for index in connections.indices.reversed() {
                var keep = !connections[index].deadline.hasPassed
                if keep, entries[index + 2].revents != 0 {
                    keep = progress(&connections[index], scratch: &scratch, render: render, events: events)
                }
                if !keep { connections.remove(at: index) }
            }
            guard accepting, entries[1].revents != 0 else { continue }
            while connections.count < Self.maximumConnections {
                do {
                    guard let socket = try listener.acceptPending() else { break }
                    connections.append(
                        Connection(
                            socket: socket, peer: socket.peerAddress?.description ?? "?",
                            deadline: .after(seconds: Self.connectionSeconds)))
                } catch where [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(error.errno) {
                    acceptPausedUntil = .after(seconds: Self.acceptBackoffSeconds)
                    break
                } catch {
                    // The client gave up before accept (ECONNABORTED) or the like: try the next one.
                    continue
                }
            }
        }
    }

    /// Reads, answers or writes as far as the socket allows now. False when the connection is done.
    private func progress(
        _ connection: inout Connection, scratch: inout [UInt8], render: () -> [UInt8],
        events: (Event) -> Void
    ) -> Bool {
        do {
            while connection.response.isEmpty {
                let room = Self.maximumRequestLength + 1 - connection.request.count
                let count = try scratch.withUnsafeMutableBytes { (buffer) throws(SystemCallError) in
                    let window = UnsafeMutableRawBufferPointer(rebasing: buffer[..<min(buffer.count, room)])
                    return try connection.socket.readAvailable(into: window)
                }
                guard let count else { return true }
                if count == 0 { return false }  // closed before a whole request: nothing to answer
                connection.request += scratch[..<count]
                let answer: HTTPResponse
                var includeBody = true
                var summary = "-"
                switch HTTPRequestHead.parse(connection.request) {
                case .incomplete:
                    guard connection.request.count > Self.maximumRequestLength else { continue }
                    answer = HTTPResponse(status: 431)
                case .malformed(let reason):
                    answer = HTTPResponse(status: 400)
                    summary = reason
                case .complete(let head, _):
                    answer = Self.response(to: head, render: render)
                    includeBody = head.method != "HEAD"
                    summary = "\(head.method) \(head.path.prefix(64))"
                }
                connection.response = answer.encoded(includeBody: includeBody)
                events(.answered(peer: connection.peer, status: answer.status, request: summary))
            }
            while connection.sent < connection.response.count {
                let sent = connection.sent
                let count = try connection.response.withUnsafeBytes { (bytes) throws(SystemCallError) in
                    try connection.socket.writeAvailable(UnsafeRawBufferPointer(rebasing: bytes[sent...]))
                }
                guard let count else { return true }
                connection.sent += count
            }
            try? connection.socket.shutdownWrite()
            return false
        } catch {
            return false  // reset by the peer, or the like: close
        }
    }
}
