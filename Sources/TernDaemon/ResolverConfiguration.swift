import Foundation
public import Logging
import Synchronization
import TernOS
public import TernProtocol

/// The Mobile Node's DNS servers, applied to the system's resolver while the node runs (`tunnel.dns:
/// auto`; docs/dns.md) through whichever manager the system has, and taken back when it stops:
///
/// - **systemd-resolved** (its runtime directory `/run/systemd/resolve` exists and `resolvectl` is
///   installed): `resolvectl dns <tun> <servers…>`, with the full tunnel also `resolvectl domain <tun> ~.`
///   (every lookup goes to these servers), and `resolvectl default-route <tun> true`. Undone with
///   `resolvectl revert <tun>`; resolved also forgets a link's settings when the link goes away, which
///   the TUN device does when the process ends, so a crash leaves nothing behind here.
/// - **resolvconf**: openresolv (`resolvconf --version` says so) gets a record `<tun>.tern` with metric 0
///   (`-m 0`) and, with the full tunnel, exclusive (`-x`: only these servers are used); Debian's
///   resolvconf a record `tun.<tun>`, which its interface-order ranks first (it has no `-m` or `-x`).
///   Undone with `resolvconf -d` (openresolv: `-f -d`, no error if absent). A crashed run's record has
///   the same name, so the next start deletes it before adding its own.
/// - **neither**: nothing is written; one warning says why. `/etc/resolv.conf` is never rewritten by
///   hand: without a manager, another program (NetworkManager, a DHCP client) owns it and would put
///   its own servers back at any time, and an interrupted node could not undo it reliably.
///
/// Every program runs through ``ExternalCommand`` (fixed directories, no shell, bounded).
///
/// Thread safety: ``restore()`` may be called from any thread, more than once; only the first call acts.
public final class ResolverConfiguration: Sendable {
    public enum Manager: Sendable, CustomStringConvertible {
        case resolved(ExternalCommand)
        case openresolv(ExternalCommand)
        case debianResolvconf(ExternalCommand)

        public var description: String {
            switch self {
            case .resolved: "systemd-resolved"
            case .openresolv: "resolvconf (openresolv)"
            case .debianResolvconf: "resolvconf (Debian)"
            }
        }
    }

    /// systemd-resolved's runtime directory: it exists while resolved runs (and after, until reboot).
    public static let resolvedDirectory = "/run/systemd/resolve"

    private let manager: Manager
    private let tunnel: String
    private let logger: Logger
    private let restored = Atomic<Bool>(false)

    /// The manager this system has, or why there is none.
    public static func detect() -> Result<Manager, ResolverError> {
        if FileSystem.exists(resolvedDirectory), let resolvectl = ExternalCommand("resolvectl") {
            return .success(.resolved(resolvectl))
        }
        guard let resolvconf = ExternalCommand("resolvconf") else {
            return .failure(
                ResolverError(
                    "neither systemd-resolved (no \(resolvedDirectory) or no resolvectl) nor resolvconf (looked in \(ExternalCommand.searchDirectories.joined(separator: ", "))) is installed"
                ))
        }
        // Debian's resolvconf and openresolv both answer --version; systemd's resolvconf (resolvectl
        // under that name) says "systemd" and works only while resolved runs, which it does not here.
        let version = (try? resolvconf.run(["--version"])) ?? ""
        if version.hasPrefix("openresolv") { return .success(.openresolv(resolvconf)) }
        if version.hasPrefix("Debian resolvconf") { return .success(.debianResolvconf(resolvconf)) }
        if version.hasPrefix("systemd") {
            return .failure(ResolverError("\(resolvconf.path) is systemd-resolved's, but systemd-resolved is not running"))
        }
        return .failure(ResolverError("\(resolvconf.path) is neither openresolv nor Debian's resolvconf (--version: \(version.prefix(80)))"))
    }

    /// The resolvconf record name for `tunnel`.
    public static func recordName(_ manager: Manager, tunnel: String) -> String {
        if case .debianResolvconf = manager { "tun.\(tunnel)" } else { "\(tunnel).tern" }
    }

    /// What the record holds: one `nameserver` line per server.
    public static func record(servers: [IPAddress], tunnel: String) -> String {
        "# \(tunnel) (Tern)\n" + servers.map { "nameserver \($0)\n" }.joined()
    }

    /// The arguments that apply `servers` (several runs for resolved), and what is written on standard
    /// input of each.
    public static func applyCommands(
        _ manager: Manager, tunnel: String, servers: [IPAddress], fullTunnel: Bool
    ) -> [(arguments: [String], input: String)] {
        let name = recordName(manager, tunnel: tunnel)
        switch manager {
        case .resolved:
            var commands = [(["dns", tunnel] + servers.map(\.description), "")]
            if fullTunnel { commands.append((["domain", tunnel, "~."], "")) }
            commands.append((["default-route", tunnel, "true"], ""))
            return commands
        case .openresolv:
            return [(["-m", "0"] + (fullTunnel ? ["-x"] : []) + ["-a", name], record(servers: servers, tunnel: tunnel))]
        case .debianResolvconf:
            return [(["-a", name], record(servers: servers, tunnel: tunnel))]
        }
    }

    /// The arguments that take this node's servers back out (safe to run when there are none).
    public static func removeCommand(_ manager: Manager, tunnel: String) -> [String] {
        let name = recordName(manager, tunnel: tunnel)
        switch manager {
        case .resolved: return ["revert", tunnel]
        case .openresolv: return ["-f", "-d", name]
        case .debianResolvconf: return ["-d", name]
        }
    }

    /// Deletes the resolvconf record a run that did not stop cleanly left behind (resolved needs
    /// nothing: its settings went with that run's TUN device). Failures are logged.
    public static func removeStale(_ manager: Manager, tunnel: String, logger: Logger) {
        if case .resolved = manager { return }
        do {
            try command(manager).run(removeCommand(manager, tunnel: tunnel))
        } catch {
            logger.warning("DNS: could not check for a record left by an earlier run: \(error)")
        }
    }

    private static func command(_ manager: Manager) -> ExternalCommand {
        switch manager {
        case .resolved(let command), .openresolv(let command), .debianResolvconf(let command): command
        }
    }

    /// Deletes what an earlier run left, then applies `servers` for `tunnel`. On a failure, what was
    /// applied is taken back before the error is thrown.
    public init(manager: Manager, tunnel: String, servers: [IPAddress], fullTunnel: Bool, logger: Logger) throws {
        self.manager = manager
        self.tunnel = tunnel
        self.logger = logger
        Self.removeStale(manager, tunnel: tunnel, logger: logger)
        let command = Self.command(manager)
        do {
            for (arguments, input) in Self.applyCommands(manager, tunnel: tunnel, servers: servers, fullTunnel: fullTunnel) {
                try command.run(arguments, input: input)
            }
        } catch {
            _ = try? command.run(Self.removeCommand(manager, tunnel: tunnel))
            throw error
        }
        let scope: String =
            switch manager {
            case .resolved: fullTunnel ? "link \(tunnel), every domain (~.)" : "link \(tunnel)"
            case .openresolv: "record \(Self.recordName(manager, tunnel: tunnel)), metric 0\(fullTunnel ? ", exclusive" : "")"
            case .debianResolvconf: "record \(Self.recordName(manager, tunnel: tunnel))"
            }
        logger.info("DNS: \(servers.map(\.description).joined(separator: ", ")) applied through \(manager) (\(scope))")
        if fullTunnel, case .debianResolvconf = manager {
            logger.warning("DNS: Debian's resolvconf cannot make these servers exclusive; lookups may also go to other servers")
        }
    }

    /// Takes the servers back out. Failures are logged: the daemon is stopping and can do no better (the
    /// next start removes a resolvconf record that is left).
    public func restore() {
        guard !restored.exchange(true, ordering: .acquiringAndReleasing) else { return }
        do {
            try Self.command(manager).run(Self.removeCommand(manager, tunnel: tunnel))
            logger.info("DNS: servers of \(tunnel) removed from \(manager)")
        } catch {
            logger.error("DNS: could not remove the servers of \(tunnel) from \(manager): \(error)")
        }
    }
}

/// The node's DNS servers could not be applied.
public struct ResolverError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
