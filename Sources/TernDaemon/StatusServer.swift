public import Logging
public import TernOS
import Synchronization

/// Answers on the daemon's control socket: each connection sends one ``ControlRequest`` line and gets
/// the answer (``reply(to:report:revoke:)``): the current status report as JSON (no keys: the report never
/// holds any), or, on the HA, what a revocation removed. One thread, asleep in poll until a client or the
/// stop comes.
public final class StatusServer: @unchecked Sendable {
    private final class StopFlag: Sendable {
        let value = Atomic<Bool>(false)
    }

    private let stopping = StopFlag()
    /// Wakes the thread for the stop: it sleeps in poll without a timeout otherwise.
    private let wakeUp: Notifier
    private var thread: PlatformThread?
    /// How long a client may take to read its reply.
    public static let replySeconds = 2.0
    /// How long a client may take to send its request line (one without, an older `tern status`, gets
    /// the status after this).
    public static let requestSeconds = 1.0

    /// Cuts a Mobile Node off (HA with a controller); returns the reply line.
    public typealias Revoke = @Sendable (String) -> String

    /// Opens the control socket at `path` (creating its directory root-only when missing) and starts
    /// the thread.
    /// - Throws: ``DaemonError`` naming the socket.
    public init(
        path: String, report: @escaping @Sendable () -> StatusReport, revoke: Revoke? = nil, logger: Logger
    ) throws(DaemonError) {
        let directory = FileTrust.directoryName(path)
        if !FileSystem.exists(directory) {
            // The daemons' run directory: root-only, like the socket in it. A failure shows when the socket
            // is created in it, with the path.
            try? PrivateFile.makeDirectory(directory)
        }
        let server: ControlSocketServer
        let wakeUp: Notifier
        do {
            server = try ControlSocketServer(path: path)
            wakeUp = try Notifier()
        } catch {
            throw DaemonError("cannot open the control socket \(path): \(error)")
        }
        self.wakeUp = wakeUp
        do {
            thread = try PlatformThread(name: "tern-status") { [stopping] in
                let poller = Poller([server.descriptor.rawValue, wakeUp.descriptor.rawValue])
                while !stopping.value.load(ordering: .acquiring) {
                    guard (try? poller.wait(timeoutMilliseconds: -1)) == true, poller.isReadable(0),
                        let client = try? server.accept(deadline: .after(seconds: Self.replySeconds))
                    else { continue }
                    let data = Self.reply(to: Self.readRequest(client), report: report, revoke: revoke)
                    do {
                        try data.withUnsafeBytes { (raw) throws in
                            try client.write(raw, deadline: .after(seconds: Self.replySeconds))
                        }
                        try? client.shutdownWrite()
                    } catch {
                        logger.debug("status request: \(error)")
                    }
                }
                _ = server  // lives (and keeps its socket file) as long as the thread
            }
        } catch {
            throw DaemonError("cannot open the control socket \(path): \(error)")
        }
    }

    /// The answer to one request: the report as JSON for `status`, the revocation's line for `revoke`, an
    /// error line for what did not parse or what this daemon does not do. Never throws: a report that does
    /// not encode is an error line too.
    public static func reply(
        to request: ControlRequest?, report: () -> StatusReport, revoke: Revoke?
    ) -> [UInt8] {
        switch request {
        case .status:
            do { return try report().json() } catch { return Array("error: cannot encode the status: \(error)\n".utf8) }
        case .revoke(identity: let identity):
            return Array((revoke?(identity) ?? "error: this daemon revokes nothing (no controller)").utf8) + [0x0A]
        case nil:
            return Array("error: unknown request\n".utf8)
        }
    }

    /// The request line, read for at most ``requestSeconds``; none at all is `.status`.
    private static func readRequest(_ client: TCPConnection) -> ControlRequest? {
        var octets: [UInt8] = []
        let deadline = Deadline.after(seconds: requestSeconds)
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: ControlRequest.maximumLength + 1, alignment: 1)
        defer { chunk.deallocate() }
        while octets.count <= ControlRequest.maximumLength, !octets.contains(0x0A) {
            guard let count = try? client.read(into: chunk, deadline: deadline), count > 0 else { break }
            octets += chunk[0..<count]
        }
        return ControlRequest.parse(octets)
    }

    public func stop() {
        stopping.value.store(true, ordering: .releasing)
        wakeUp.signal()
        thread?.join()
        thread = nil
    }
}
