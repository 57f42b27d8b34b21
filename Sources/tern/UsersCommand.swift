import ArgumentParser
import Foundation
import TernCrypto
import TernDaemon
import TernOS
import TernProtocol
import TernStore

/// `tern users`: the Mobile Nodes the Home Agent Controller knows, in its SQLite database.
struct UsersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users",
        abstract: "Add, list, show, disable, enable and remove the Mobile Nodes the Home Agent Controller knows.",
        discussion: """
            Each Mobile Node has an identity (an NAI, RFC 4282, e.g. laptop@example.net) and a pre-shared
            key. `add` generates the key and writes it once, as hex, to a new root-only file: copy that file
            to the Mobile Node and delete it here. The key stays in the database (mode 0600), never in a log.

            `disable` and `remove` take effect at once: the running Home Agent is told through its control socket (--control-socket) to drop the Mobile Node's SAs, bindings and host routes, and the controller refuses its next bootstrap (401, as for an unknown identity). A disabled Mobile Node keeps its key and Home Addresses; `enable` lets it bootstrap again. Without a running Home Agent the database still changes, and a Home Agent started later restores none of its SAs.

            Examples:
              tern users add laptop@example.net --psk-file ./laptop.psk
              tern users list
              tern users show laptop@example.net
              tern users disable laptop@example.net
              tern users enable laptop@example.net
              tern users remove laptop@example.net
            """,
        subcommands: [Add.self, List.self, Show.self, Disable.self, Enable.self, Remove.self])

    /// The running Home Agent to tell about a revocation.
    struct HomeAgentOption: ParsableArguments {
        @Option(name: .long, help: ArgumentHelp("The running Home Agent's control socket.", valueName: "path"))
        var controlSocket = ControlSocketDefaults.homeAgent

        /// Asks the running HA to cut `identity` off; prints what it answered, or that none answered.
        func revoke(_ identity: String) {
            do {
                let reply = try ControlSocketClient.request(
                    path: controlSocket, deadline: .after(seconds: 5), request: .revoke(identity: identity))
                print("home agent: " + String(decoding: reply, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
            } catch {
                print(
                    "no home agent answered on \(controlSocket) (\(error)); the database is changed, and a home agent started later restores none of its SAs"
                )
            }
        }
    }

    /// Where the controller's database is.
    struct DatabaseOption: ParsableArguments {
        @Option(name: .long, help: ArgumentHelp("The controller's SQLite database.", valueName: "file"))
        var database = "/var/lib/tern/hac.sqlite"

        func open() throws -> HomeAgentControllerStore {
            do {
                return try HomeAgentControllerStore(path: database)
            } catch {
                throw fail("\(error)")
            }
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a Mobile Node and generate its pre-shared key.")
        @OptionGroup var database: DatabaseOption
        @Argument(help: "The Mobile Node's identity (NAI).") var identity: String
        @Option(name: .long, help: ArgumentHelp("New file to write the key to (hex, mode 0600).", valueName: "file"))
        var pskFile: String

        func run() throws {
            let nai: NetworkAccessIdentifier
            do { nai = try MobileNodeAccounts.identity(identity) } catch { throw fail(error) }
            let key: [UInt8]
            do {
                key = try SecureRandom.bytes(count: MobileNodeAccounts.preSharedKeyLength)
            } catch {
                throw fail("cannot generate a key: \(error)")
            }
            let store = try database.open()
            do {
                try MobileNodeAccounts.add(nai, key: key, pskFile: pskFile, store: store, now: wallClockSeconds())
            } catch {
                throw fail(error)
            }
            print("added \(identity); its pre-shared key is in \(pskFile) (mode 0600): give it to the Mobile Node")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the Mobile Nodes, their Home Addresses and live SAs.")
        @OptionGroup var database: DatabaseOption

        func run() throws {
            let nodes = try records(database.open())
            if nodes.isEmpty { print("no mobile nodes") }
            for node in nodes { print(MobileNodeAccounts.describe(node)) }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one Mobile Node's Home Addresses and live SAs.")
        @OptionGroup var database: DatabaseOption
        @Argument(help: "The Mobile Node's identity.") var identity: String

        func run() throws {
            guard let node = try records(database.open()).first(where: { $0.identity == identity }) else {
                throw fail("no mobile node named \(identity)")
            }
            print(MobileNodeAccounts.describe(node))
            for sa in node.securityAssociations {
                let end = Date(timeIntervalSince1970: sa.validityEnd)
                print("  SA \(sa.securityParameterIndex): suite \(sa.suite) (\(sa.suite.name)), scope \(sa.scope.rawValue), valid until \(end)")
            }
        }
    }

    struct Disable: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cut a Mobile Node off now and refuse its bootstraps; its key and Home Addresses are kept.")
        @OptionGroup var database: DatabaseOption
        @OptionGroup var homeAgent: HomeAgentOption
        @Argument(help: "The Mobile Node's identity.") var identity: String

        func run() throws {
            try setDisabled(true, identity, database)
            print("disabled \(identity)")
            homeAgent.revoke(identity)
        }
    }

    struct Enable: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Let a disabled Mobile Node bootstrap again.")
        @OptionGroup var database: DatabaseOption
        @Argument(help: "The Mobile Node's identity.") var identity: String

        func run() throws {
            try setDisabled(false, identity, database)
            print("enabled \(identity)")
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a Mobile Node with its leases and SAs, cutting it off now.")
        @OptionGroup var database: DatabaseOption
        @OptionGroup var homeAgent: HomeAgentOption
        @Argument(help: "The Mobile Node's identity.") var identity: String

        func run() throws {
            // Disabled first, so that it cannot bootstrap again between the HA's revocation and the delete.
            try setDisabled(true, identity, database)
            homeAgent.revoke(identity)
            do {
                guard try database.open().removeMobileNode(identity: identity) else {
                    throw fail("no mobile node named \(identity)")
                }
            } catch let error as StoreError {
                throw fail("\(error)")
            }
            print("removed \(identity)")
        }
    }
}

private func setDisabled(_ disabled: Bool, _ identity: String, _ database: UsersCommand.DatabaseOption) throws {
    do {
        guard try database.open().setDisabled(disabled, identity: identity) else {
            throw fail("no mobile node named \(identity)")
        }
    } catch let error as StoreError {
        throw fail("\(error)")
    }
}

private func records(_ store: HomeAgentControllerStore) throws -> [MobileNodeRecord] {
    do {
        return try store.mobileNodes(at: wallClockSeconds())
    } catch {
        throw fail("\(error)")
    }
}
