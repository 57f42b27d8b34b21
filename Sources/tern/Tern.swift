public import ArgumentParser
import Foundation
public import Logging
import Synchronization
import TernConfig
import TernDaemon
import TernOS
import TernProtocol

/// `tern`: the Home Agent and Mobile Node daemons of the Tern mobility VPN.
///
/// Every command is synchronous: the daemons run on threads of their own and a signal loop on the main
/// thread (``DaemonRunLoop``), never on Swift concurrency, whose executor on Linux keeps libdispatch's
/// worker pool and its 1 s monitor timer running (docs/tunnel.md, "Idle is idle").
@main
struct Tern: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tern",
        abstract: "A mobility VPN: RFC 6618 (Mobile IPv6 security over TLS) with one UDP port.",
        discussion: """
            A Mobile Node keeps its Home Addresses while it roams; the Home Agent owns them and forwards
            its traffic. Both run in the foreground, stop cleanly on SIGINT or SIGTERM, and re-read their
            configuration on SIGHUP, applying what can change without a restart (docs/reload.md).

            Examples:
              tern ha --config /etc/tern/ha.yaml
              tern mn --config /etc/tern/mn.yaml
              tern users add laptop@example.net --psk-file laptop.psk
              tern status --json
            """,
        version: TernVersion.current,
        subcommands: [HomeAgentCommand.self, MobileNodeCommand.self, UsersCommand.self, StatusCommand.self]
    )
}

/// Options both daemons take.
struct DaemonOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: ArgumentHelp("The configuration file (YAML).", valueName: "file"))
    var config: String

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Log level: trace, debug, info, notice, warning, error, critical. Overrides the config's log-level; default info.",
            valueName: "level"))
    var logLevel: Logger.Level?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Run as this user once set up, keeping only the capabilities the daemon needs (docs/privileges.md). Default: stay root with those capabilities only.",
            valueName: "name"))
    var user: String?

    /// The daemon's logger, at `--log-level`, else the config's `log-level`, else info. Its level is
    /// shared by every copy (threads hold copies), so a reload changes it everywhere at once.
    func makeLogger(label: String, configured: LogLevel?) -> Logger {
        let level = LogLevelControl(DaemonLogLevel.initial(commandLine: logLevel, configured: configured))
        LoggingSystem.bootstrap { SharedLevelLogHandler(inner: StreamLogHandler.standardError(label: $0), level: level) }
        return Logger(label: label)
    }

    /// What a reload does with the config's `log-level` (``DaemonLogLevel/reload(configured:commandLine:logger:)``).
    func reloadLogLevel(_ configured: LogLevel?, logger: inout Logger) {
        DaemonLogLevel.reload(configured: configured, commandLine: logLevel, logger: &logger)
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// Stops the command with `message` on standard error and exit status 1 (78, EX_CONFIG, for bad
/// configuration).
func fail(_ message: String, configuration: Bool = false) -> ExitCode {
    FileHandle.standardError.write(Data(("tern: " + message + "\n").utf8))
    return ExitCode(configuration ? 78 : 1)
}

/// Stops the command with a library's error: a ``DaemonError`` says whether the configuration is at fault
/// (exit status 78).
func fail(_ error: any Error) -> ExitCode {
    if let exit = error as? ExitCode { return exit }  // already said why
    let daemonError = error as? DaemonError
    return fail(daemonError?.description ?? "\(error)", configuration: daemonError?.configuration ?? false)
}

extension DaemonRunLoop {
    /// ``blockSignals()``, or stop the command saying why.
    static func blockSignalsOrFail() throws -> SignalDescriptor {
        do { return try blockSignals() } catch { throw fail(error) }
    }

    /// ``run()``; a data-plane failure exits with ``dataPlaneFailureStatus``.
    mutating func runOrExit() throws {
        let outcome: Outcome
        do { outcome = try run() } catch { throw fail(error) }
        if outcome == .dataPlaneFailed { throw ExitCode(Self.dataPlaneFailureStatus) }
    }
}
