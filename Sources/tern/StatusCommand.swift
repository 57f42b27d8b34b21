import ArgumentParser
import Foundation
import Logging
import Synchronization
import TernDaemon
import TernOS

/// Answers on the daemon's control socket: each connection sends one ``ControlRequest`` line and gets
/// the answer: the current status report as JSON (no keys: the report never holds any), or, on the HA,
/// what a revocation removed. One thread, asleep in poll until a client or the stop comes.
final class StatusServer: @unchecked Sendable {
    private final class StopFlag: Sendable {
        let value = Atomic<Bool>(false)
    }

    private let stopping = StopFlag()
    /// Wakes the thread for the stop: it sleeps in poll without a timeout otherwise.
    private let wakeUp: Notifier
    private var thread: PlatformThread?
    /// How long a client may take to read its reply.
    static let replySeconds = 2.0
    /// How long a client may take to send its request line (one without, an older `tern status`, gets
    /// the status after this).
    static let requestSeconds = 1.0

    /// Cuts a Mobile Node off (HA with a controller); returns the reply line.
    typealias Revoke = @Sendable (String) -> String

    init(path: String, report: @escaping @Sendable () -> StatusReport, revoke: Revoke?, logger: Logger) throws {
        let directory = FileTrust.directoryName(path)
        if !FileSystem.exists(directory) {
            // The daemons' run directory: root-only, like the socket in it. A failure shows when the socket
            // is created in it, with the path.
            try? PrivateFile.makeDirectory(directory)
        }
        let server = try ControlSocketServer(path: path)
        let wakeUp = try Notifier()
        self.wakeUp = wakeUp
        thread = try PlatformThread(name: "tern-status") { [stopping] in
            let poller = Poller([server.descriptor.rawValue, wakeUp.descriptor.rawValue])
            while !stopping.value.load(ordering: .acquiring) {
                guard (try? poller.wait(timeoutMilliseconds: -1)) == true, poller.isReadable(0),
                    let client = try? server.accept(deadline: .after(seconds: Self.replySeconds))
                else { continue }
                do {
                    let data: Data
                    switch Self.readRequest(client) {
                    case .status: data = Data(try report().json())
                    case .revoke(let identity):
                        data = Data(((revoke?(identity)) ?? "error: this daemon revokes nothing (no controller)").utf8 + [0x0A])
                    case nil: data = Data("error: unknown request\n".utf8)
                    }
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

    /// Opens the control socket at `path`, or stops the command saying why.
    static func open(
        _ path: String, report: @escaping @Sendable () -> StatusReport, revoke: Revoke? = nil, logger: Logger
    ) throws -> StatusServer {
        do {
            return try StatusServer(path: path, report: report, revoke: revoke, logger: logger)
        } catch {
            throw fail("cannot open the control socket \(path): \(error)")
        }
    }

    func stop() {
        stopping.value.store(true, ordering: .releasing)
        wakeUp.signal()
        thread?.join()
        thread = nil
    }
}

/// `tern status`: what a running daemon reports, for people or (`--json`) for programs.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a running Home Agent's or Mobile Node's state: SA, bindings, counters, handovers.",
        discussion: """
            Asks the daemon over its root-only control socket (`control-socket:` in its config; by default
            /run/tern/ha.sock or /run/tern/mn.sock, tried in that order). No key is ever shown.
            """)

    @Option(name: .long, help: ArgumentHelp("The daemon's control socket.", valueName: "path"))
    var socket: String?

    @Flag(name: .long, help: "Print the report as JSON.")
    var json = false

    func run() throws {
        let candidates = socket.map { [$0] } ?? [ControlSocketDefaults.homeAgent, ControlSocketDefaults.mobileNode]
        var failures: [String] = []
        for path in candidates {
            do {
                let reply = try ControlSocketClient.request(path: path, deadline: .after(seconds: 5))
                if json {
                    print(String(decoding: reply, as: UTF8.self))
                } else {
                    print(try StatusReport(json: reply).text)
                }
                return
            } catch {
                failures.append("\(path): \(error)")
            }
        }
        throw fail("no Tern daemon answered: \(failures.joined(separator: "; "))")
    }
}

/// Where the daemons listen for `tern status` unless their config says otherwise.
enum ControlSocketDefaults {
    static let homeAgent = "/run/tern/ha.sock"
    static let mobileNode = "/run/tern/mn.sock"
}
