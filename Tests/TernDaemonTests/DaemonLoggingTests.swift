import Logging
import Synchronization
import TernConfig
import TernDaemon
import Testing

/// A log handler that keeps what it was given, at a level shared like the daemons' (``LogLevelControl``).
private struct RecordingHandler: LogHandler {
    let recording: Recording
    var control: LogLevelControl { recording.control }
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level {
        get { control.level }
        set { control.level = newValue }
    }
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) { recording.messages.withLock { $0.append("\(event.level): \(event.message)") } }
}

private final class Recording: Sendable {
    let messages = Mutex<[String]>([])
    let control: LogLevelControl
    init(_ level: Logger.Level) { control = LogLevelControl(level) }
    func logger() -> Logger {
        let handler = RecordingHandler(recording: self)
        return Logger(label: "tern.test", factory: { _ in handler })
    }
    var lines: [String] { messages.withLock { $0 } }
}

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
