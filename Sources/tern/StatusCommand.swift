import ArgumentParser
import Foundation
import Logging
import Synchronization
import TernDaemon
import TernOS

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
