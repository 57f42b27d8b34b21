import Logging
import Synchronization
import TernConfig
import TernOS
import TernProtocol
import TernTunnel
import TernDaemon
import Testing

@Suite("The daemons' log level: start, reload, one level for every copy of the logger")
struct DaemonLoggingTests {
    @Test("--log-level wins at start, then the file's, then info")
    func initial() {
        #expect(DaemonLogLevel.initial(commandLine: .error, configured: .debug) == .error)
        #expect(DaemonLogLevel.initial(commandLine: nil, configured: .debug) == .debug)
        #expect(DaemonLogLevel.initial(commandLine: nil, configured: nil) == .info)
    }

    @Test("a reload applies the file's level to every copy, or back to info when it names none")
    func reload() {
        let recording = Recording(.info)
        var logger = recording.logger()
        let copy = recording.logger()
        DaemonLogLevel.reload(configured: .debug, commandLine: nil, logger: &logger)
        #expect(copy.logLevel == .debug, "shared by every copy")
        #expect(recording.lines.last == "notice: log-level: info -> debug")
        DaemonLogLevel.reload(configured: .debug, commandLine: nil, logger: &logger)
        #expect(recording.lines.count == 1, "unchanged: nothing said")
        DaemonLogLevel.reload(configured: nil, commandLine: nil, logger: &logger)
        #expect(copy.logLevel == .info)
    }

    @Test("with --log-level, a reload keeps it and says so when the file asks for another")
    func commandLineWins() {
        let recording = Recording(.warning)
        var logger = recording.logger()
        DaemonLogLevel.reload(configured: .warning, commandLine: .warning, logger: &logger)
        #expect(recording.lines.isEmpty)
        DaemonLogLevel.reload(configured: .trace, commandLine: .warning, logger: &logger)
        #expect(logger.logLevel == .warning)
        #expect(recording.lines == ["warning: log-level: --log-level warning on the command line wins over trace; not changed"])
    }

    @Test("every configured level maps to swift-log's, and the control stores each")
    func levels() {
        let control = LogLevelControl(.info)
        for level in Logger.Level.allCases {
            control.level = level
            #expect(control.level == level)
        }
        #expect(Logger.Level(LogLevel.notice) == .notice && Logger.Level(LogLevel.critical) == .critical)
    }
}

@Suite("The data planes' events in the log")
struct EventLogTests {
    @Test("a failed data-plane thread is critical and signals the notifier that stops the daemon")
    func threadFailed() throws {
        let recording = Recording(.info)
        let failure = try Notifier()
        log(TunnelEvent.threadFailed(thread: "tern-ha-rx", error: "recvmmsg failed"), recording.logger(), failure: failure)
        #expect(recording.lines == ["critical: data-plane thread tern-ha-rx stopped: recvmmsg failed"])
        let poller = Poller([failure.descriptor.rawValue])
        #expect((try? poller.wait(timeoutMilliseconds: 0)) == true && poller.isReadable(0))
        log(TunnelEvent.bindingExpired(mobileNode: "one"), recording.logger())
        #expect(recording.lines.last == "info: binding of one expired")
    }

    @Test("the Mobile Node's registration and refusals read as sentences")
    func mobileNode() throws {
        let recording = Recording(.info)
        log(
            MobileNodeEvent.registered(lifetimeSeconds: 600, natKeepaliveSeconds: 25, ipv4HomeAddress: IPv4Address("10.7.0.2")),
            recording.logger())
        #expect(recording.lines == ["info: registered: lifetime 600 s, behind NAT (keepalive 25 s), IPv4 home address 10.7.0.2"])
        log(MobileNodeEvent.ignoredSignalling(octets: 12), recording.logger())
        #expect(recording.lines.count == 1, "debug: below the level")
        log(MobileNodeEvent.homeAgentUnresponsive(unanswered: 3), recording.logger())
        #expect(recording.lines.last?.hasPrefix("warning: the home agent answered none of 3 binding updates") == true)
    }
}
