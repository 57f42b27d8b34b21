internal import CTernOS
#if canImport(Glibc)
import Glibc
#endif

/// A Unix stream socket on which a daemon answers `tern status`: root-only (mode 0600 in a directory the
/// operator keeps root-only), one reply per connection. The file is removed when the server goes away,
/// and a stale one left by a crashed run is replaced at start.
public final class ControlSocketServer: @unchecked Sendable {
    public let path: String
    /// The listening socket, for a poller that waits on it beside other descriptors.
    public let descriptor: FileDescriptor
    /// Set once this server has bound the path: only then is the file its to remove (an init that
    /// throws still runs deinit, and must not remove another daemon's socket).
    private var boundPath = false

    /// `sockaddr_un.sun_path` holds 108 octets with its terminating NUL.
    public static let maximumPathLength = 107

    public init(path: String) throws(SystemCallError) {
        self.path = path
        descriptor = FileDescriptor(taking: try SystemCall.call("socket(AF_UNIX)") { tern_tcp_socket(AF_UNIX) })
        var address = try Self.address(path)
        // Only a stale socket may be replaced (a crashed run's): one a daemon still answers on is refused,
        // and a regular file of that name is the operator's mistake to see.
        var status = stat()
        if lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFSOCK {
            guard !Self.isAnswered(path) else {
                throw SystemCallError("bind \(path): another daemon answers on it", errno: EADDRINUSE)
            }
            unlink(path)
        }
        let previous = umask(0o177)
        defer { umask(previous) }
        _ = try withUnsafePointer(to: &address) { (pointer) throws(SystemCallError) in
            try SystemCall.call("bind \(path)") {
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(descriptor.rawValue, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
        }
        boundPath = true
        _ = try SystemCall.call("chmod \(path)") { chmod(path, 0o600) }
        _ = try SystemCall.call("listen \(path)") { listen(descriptor.rawValue, 16) }
    }

    deinit {
        if boundPath { unlink(path) }
    }

    /// Whether a daemon answers on the socket at `path` now (a connect succeeds): what a second daemon
    /// checks before it changes anything, and what tells a stale socket file from a live one.
    public static func isAnswered(_ path: String) -> Bool {
        guard var address = try? address(path) else { return false }
        let probe = tern_tcp_socket(AF_UNIX)
        guard probe >= 0 else { return false }
        defer { close(probe) }
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(probe, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0 || errno == EAGAIN
            }
        }
    }

    /// The next client, or ETIMEDOUT when none came by `deadline`.
    public func accept(deadline: Deadline) throws(SystemCallError) -> TCPConnection {
        var entry = pollfd(fd: descriptor.rawValue, events: Int16(POLLIN), revents: 0)
        let ready = try SystemCall.call("poll \(path)") { poll(&entry, 1, deadline.pollMilliseconds) }
        guard ready > 0 else { throw SystemCallError("accept \(path)", errno: ETIMEDOUT) }
        guard let fd = try SystemCall.nonBlocking("accept \(path)", { tern_accept(descriptor.rawValue, nil, nil) }) else {
            throw SystemCallError("accept \(path)", errno: ETIMEDOUT)
        }
        return TCPConnection(taking: FileDescriptor(taking: fd), peer: nil)
    }

    static func address(_ path: String) throws(SystemCallError) -> sockaddr_un {
        let octets = Array(path.utf8)
        guard !octets.isEmpty, octets.count <= maximumPathLength, !octets.contains(0) else {
            throw SystemCallError("control socket path \(path) (1…\(maximumPathLength) octets)", errno: ENAMETOOLONG)
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, octet) in octets.enumerated() { raw[index] = octet }
        }
        return address
    }
}

/// `tern status`'s side: connect, read the whole reply, bounded by a deadline and a size limit.
public enum ControlSocketClient {
    /// Octets of a reply read at most: a status report with many Mobile Nodes stays far below.
    public static let maximumReplyLength = 16 << 20

    /// Sends `request` (a ``ControlRequest`` line; `status` by default), then reads the whole reply.
    public static func request(
        path: String, deadline: Deadline, request: ControlRequest = .status
    ) throws(SystemCallError) -> [UInt8] {
        let connection = TCPConnection(
            taking: FileDescriptor(taking: try SystemCall.call("socket(AF_UNIX)") { tern_tcp_socket(AF_UNIX) }), peer: nil)
        var address = try ControlSocketServer.address(path)
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(connection.descriptor.rawValue, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else { throw SystemCallError("connect \(path)", errno: errno) }
        let line = Array((request.line + "\n").utf8)
        do {
            try line.withUnsafeBytes { raw in
                Result { () throws(SystemCallError) in try connection.write(raw, deadline: deadline) }
            }.get()
        } catch where error.errno == EPIPE || error.errno == ECONNRESET {
            // A daemon from before request lines may have answered and closed already: read its reply.
        }
        try? connection.shutdownWrite()
        var reply: [UInt8] = []
        let chunkLength = 64 << 10
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkLength, alignment: 1)
        defer { chunk.deallocate() }
        while reply.count < maximumReplyLength {
            let count: Int
            do {
                count = try connection.read(into: chunk, deadline: deadline)
            } catch where error.errno == ECONNRESET && !reply.isEmpty {
                // A daemon from before request lines closes without reading ours: its reply is whole.
                break
            }
            if count == 0 { break }
            reply += chunk[0..<count]
        }
        return reply
    }
}

/// What a client asks a daemon on its control socket: one line, then the daemon's reply and close.
/// Pure; the socket is root-only, so a request comes from root (or the daemon's own user).
public enum ControlRequest: Sendable, Hashable {
    /// The status report as JSON (`tern status`); also what an empty request means (older clients).
    case status
    /// Cut a Mobile Node off now: the HA removes its SAs, bindings and host routes (`tern users
    /// remove` / `disable`, issue 13 item 7).
    case revoke(identity: String)

    /// Octets of a request line read at most: an identity is at most 253 (RFC 4282).
    public static let maximumLength = 512

    public var line: String {
        switch self {
        case .status: "status"
        case .revoke(let identity): "revoke \(identity)"
        }
    }

    /// The request in `octets` (up to the first newline), or nil when it is none Tern knows.
    public static func parse(_ octets: some Collection<UInt8>) -> ControlRequest? {
        let line = octets.prefix { $0 != UInt8(ascii: "\n") }
        guard line.count <= maximumLength, let text = String(validating: line, as: UTF8.self) else { return nil }
        if text.isEmpty || text == "status" { return .status }
        let prefix = "revoke "
        guard text.hasPrefix(prefix) else { return nil }
        let identity = String(text.dropFirst(prefix.count))
        guard !identity.isEmpty, identity.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        return .revoke(identity: identity)
    }
}
