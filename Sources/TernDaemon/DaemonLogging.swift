public import Logging
public import TernConfig
import Synchronization

/// The daemons' log level: where it starts, and what a reload does with the configuration's `log-level`.
public enum DaemonLogLevel {
    /// `--log-level`, else the configuration's `log-level`, else info.
    public static func initial(commandLine: Logger.Level?, configured: LogLevel?) -> Logger.Level {
        commandLine ?? configured.map(Logger.Level.init) ?? .info
    }

    /// A reload: the command line wins when it named a level (a warning says so when the file differs);
    /// else the file's level, or info when it names none. Every logger sharing the level sees the change.
    public static func reload(configured: LogLevel?, commandLine: Logger.Level?, logger: inout Logger) {
        if let fixed = commandLine {
            if let configured, Logger.Level(configured) != fixed {
                logger.warning("log-level: --log-level \(fixed) on the command line wins over \(configured.rawValue); not changed")
            }
            return
        }
        let wanted = configured.map(Logger.Level.init) ?? .info
        guard wanted != logger.logLevel else { return }
        logger.notice("log-level: \(logger.logLevel) -> \(wanted)")
        logger.logLevel = wanted
    }
}

extension Logger.Level {
    /// The configuration's level as swift-log names it.
    public init(_ level: LogLevel) {
        switch level {
        case .trace: self = .trace
        case .debug: self = .debug
        case .info: self = .info
        case .notice: self = .notice
        case .warning: self = .warning
        case .error: self = .error
        case .critical: self = .critical
        }
    }
}

/// The one log level of the process, which every logger reads on every message (one atomic load).
public final class LogLevelControl: Sendable {
    private let raw: Atomic<UInt8>

    public init(_ level: Logger.Level) { raw = Atomic(Self.index(level)) }

    public var level: Logger.Level {
        get { Logger.Level.allCases[Int(raw.load(ordering: .relaxed))] }
        set { raw.store(Self.index(newValue), ordering: .relaxed) }
    }

    private static func index(_ level: Logger.Level) -> UInt8 {
        UInt8(Logger.Level.allCases.firstIndex(of: level) ?? 0)
    }
}

/// Standard error, at the level ``LogLevelControl`` holds.
public struct SharedLevelLogHandler: LogHandler {
    public var inner: StreamLogHandler
    public let level: LogLevelControl

    public init(inner: StreamLogHandler, level: LogLevelControl) {
        self.inner = inner
        self.level = level
    }

    public var logLevel: Logger.Level {
        get { level.level }
        set { level.level = newValue }
    }

    public var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }

    public var metadataProvider: Logger.MetadataProvider? {
        get { inner.metadataProvider }
        set { inner.metadataProvider = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    public func log(event: LogEvent) { inner.log(event: event) }
}

