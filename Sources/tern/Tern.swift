public import ArgumentParser
public import Logging
import TernProtocol

/// `tern`: the Home Agent and Mobile Node daemons of the Tern mobility VPN.
@main
struct Tern: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tern",
        abstract: "A mobility VPN: RFC 6618 (Mobile IPv6 security over TLS) with one UDP port.",
        discussion: """
            A Mobile Node keeps its Home Addresses while it roams; the Home Agent owns them and forwards
            its traffic. Both run in the foreground and stop cleanly on SIGINT or SIGTERM.

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
        help: ArgumentHelp("Log level: trace, debug, info, notice, warning, error, critical.", valueName: "level"))
    var logLevel: Logger.Level = .info

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Run as this user once set up, keeping only the capabilities the daemon needs (docs/privileges.md). Default: stay root with those capabilities only.",
            valueName: "name"))
    var user: String?

    /// The daemon's logger, at `--log-level`. The handler every logger of the process gets is set to the
    /// same level, so that a logger made elsewhere (a library's) says no more than asked for.
    func makeLogger(label: String) -> Logger {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: label)
        logger.logLevel = level
        return logger
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
