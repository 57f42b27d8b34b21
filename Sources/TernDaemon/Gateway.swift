import Foundation
public import Logging
import Synchronization
public import TernConfig
import TernOS
public import TernProtocol

/// What the Home Agent changes on the system to be a gateway (DESIGN.md, "The HA is a gateway";
/// docs/gateway.md), and puts back when it stops:
///
/// - **IP forwarding** (`gateway.forwarding`): `net.ipv4.ip_forward` and `net.ipv6.conf.all.forwarding`
///   set to 1 through `/proc/sys` of the HA's network namespace; the values found at start are written
///   back by ``undo()``.
/// - **IPv4 masquerade** (`gateway.masquerade`): an nftables table of Tern's own, `table ip tern_<tun>`,
///   whose one rule rewrites the source of packets from the Mobile Nodes' IPv4 Home Addresses leaving
///   through an outside interface, so hosts that know no route back to the home prefix still answer.
///   A table of that name left by a crashed run is deleted in the same transaction that creates it;
///   ``undo()`` deletes it. The masquerade makes the kernel track every IPv4 connection, the co-located
///   controller's included: a flood of TCP connections to it would fill `nf_conntrack` and the kernel
///   would then drop real Mobile Nodes' SYNs before the controller sees them (docs/hac.md, "Under
///   attack"). So the same table exempts the controller's TCP port from tracking (`notrack` at raw
///   priority, both ways); the controller's own caps and deadlines bound those connections instead.
///
/// Why `nft -f -` in a subprocess: no nftables library is packaged for Swift, and speaking nf_tables
/// netlink (batches of NFT_MSG_NEW* with nested expression attributes) by hand would be far more code to
/// trust than the tool that defines the ruleset language; wg-quick runs `nft -f` the same way. The
/// ruleset is one atomic transaction, so it applies whole or not at all. Every run is bounded
/// (``ExternalCommand``).
///
/// Thread safety: ``undo()`` may be called from any thread, more than once; only the first call acts.
public final class Gateway: Sendable {
    /// A forwarding sysctl and the value it had before the HA set it.
    private struct Saved: Sendable {
        let name: String
        let value: String
        /// Where `value` is recorded until the clean restore (``SysctlRecord``).
        let recordPath: String
    }

    /// The sysctls `gateway.forwarding` sets to 1.
    public static let forwardingSysctls = ["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"]

    /// `tern_<tunnel>`, with every character nft would not take in a bare name replaced by `_`.
    public let tableName: String
    /// Whether the table exists (masquerade on): only then are there Home Addresses to update.
    private let masquerades: Bool
    private let saved: [Saved]
    private let logger: Logger
    private let undone = Atomic<Bool>(false)

    /// Applies `settings`: creates the nftables table (deleting a stale one first), then sets the
    /// forwarding sysctls. On a failure, whatever was already changed is put back before the error is
    /// thrown.
    ///
    /// - Parameters:
    ///   - tunnel: the TUN device's name: the inside interface, never masqueraded out of.
    ///   - homeAddresses: the IPv4 Home Addresses and pools to masquerade (IPv6 ones are ignored).
    ///   - recordDirectory: where the forwarding sysctls' original values are recorded while the HA runs
    ///     (the control socket's directory), so that a crash does not lose them.
    ///   - controllerPort: the co-located controller's TCP port, exempt from connection tracking; nil
    ///     without a controller.
    public init(
        settings: GatewaySettings, tunnel: String, homeAddresses: [IPPrefix], controllerPort: UInt16?,
        recordDirectory: String, logger: Logger
    ) throws {
        self.logger = logger
        tableName = Self.tableName(tunnel: tunnel)
        masquerades = settings.masquerade != .off
        if let ruleset = Self.ruleset(
            table: tableName, tunnel: tunnel, masquerade: settings.masquerade, homeAddresses: homeAddresses,
            controllerPort: controllerPort)
        {
            try Self.runNft(ruleset)
            logger.info("gateway: nftables table ip \(tableName) masquerades IPv4 home addresses")
        } else {
            // No masquerade, but a table from a crashed run with masquerade on must still go.
            do { try Self.runNft(Self.deletion(table: tableName)) } catch {
                logger.debug("gateway: could not check for a stale nftables table: \(error)")
            }
        }
        var saved: [Saved] = []
        if settings.forwarding {
            if let reason = FileTrust.directoryViolation(recordDirectory) {
                if settings.masquerade != .off { try? Self.runNft(Self.deletion(table: tableName)) }
                throw GatewayError("cannot record the forwarding sysctls: \(reason)")
            }
            for name in Self.forwardingSysctls {
                let recordPath = recordDirectory + "/\(tunnel).\(name)"
                do {
                    saved.append(try Self.enable(name, recordPath: recordPath, logger: logger))
                } catch where error.errno == ENOENT && name.contains("ipv6") {
                    logger.info("gateway: \(name) does not exist (IPv6 disabled?); IPv6 is not forwarded")
                } catch {
                    Self.restore(saved, logger: logger)
                    if settings.masquerade != .off { try? Self.runNft(Self.deletion(table: tableName)) }
                    throw error
                }
            }
            logger.info("gateway: IP forwarding on (was \(saved.map { "\($0.name)=\($0.value)" }.joined(separator: ", ")))")
        }
        self.saved = saved
    }

    /// Deletes the nftables table and writes the forwarding sysctls back. Failures are logged: the
    /// daemon is stopping and can do no better.
    public func undo() {
        guard !undone.exchange(true, ordering: .acquiringAndReleasing) else { return }
        do {
            try Self.runNft(Self.deletion(table: tableName))
        } catch {
            logger.error("gateway: could not delete nftables table ip \(tableName): \(error)")
        }
        Self.restore(saved, logger: logger)
        if !saved.isEmpty {
            logger.info("gateway: restored \(saved.map { "\($0.name)=\($0.value)" }.joined(separator: ", "))")
        }
    }

    /// Replaces the set of masqueraded Home Addresses (a reload added or removed Mobile Nodes), in one
    /// transaction. Nothing to do without masquerade.
    public func updateHomeAddresses(_ homeAddresses: [IPPrefix]) throws {
        guard masquerades else { return }
        try Self.runNft(Self.setReplacement(table: tableName, homeAddresses: homeAddresses))
    }

    /// Sets `name` to 1 and returns what to restore: the value a crashed run recorded, else the one found
    /// now, recorded before the change (a record that cannot be written stops the start: a crash would
    /// then lose the original).
    private static func enable(_ name: String, recordPath: String, logger: Logger) throws(SystemCallError) -> Saved {
        let current = try Sysctl.read(name)
        let recorded = SysctlRecord.read(recordPath)
        if let recorded {
            logger.warning("gateway: an earlier run did not stop cleanly; \(name) will be restored to its recorded \(recorded), not \(current)")
        }
        let original = recorded ?? current
        if recorded == nil, original != "1" { try SysctlRecord.write(recordPath, original) }
        if current != "1" { try Sysctl.write(name, "1") }
        return Saved(name: name, value: original, recordPath: recordPath)
    }

    private static func restore(_ saved: [Saved], logger: Logger) {
        for entry in saved.reversed() {
            do {
                if entry.value != "1" { try Sysctl.write(entry.name, entry.value) }
                SysctlRecord.remove(entry.recordPath)
            } catch {
                logger.error("gateway: could not restore \(entry.name)=\(entry.value) (kept in \(entry.recordPath) for the next start): \(error)")
            }
        }
    }

    // MARK: Ruleset (pure, tested)

    public static func tableName(tunnel: String) -> String {
        "tern_" + String(tunnel.map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" })
    }

    /// Deletes `table` if it exists: declaring a table creates it when missing (and is a no-op
    /// otherwise), so the delete that follows never fails for want of a table.
    public static func deletion(table: String, family: String = "ip") -> String {
        "table \(family) \(table)\ndelete table \(family) \(table)\n"
    }

    /// The whole `nft -f -` input for a start: delete a stale table, then create the masquerade table
    /// (with, when `controllerPort` is given, the chains that keep that TCP port out of connection
    /// tracking). Nil when `masquerade` is off.
    public static func ruleset(
        table: String, tunnel: String, masquerade: GatewaySettings.Masquerade, homeAddresses: [IPPrefix],
        controllerPort: UInt16? = nil
    ) -> String? {
        let outside: String
        switch masquerade {
        case .off: return nil
        case .allOutside: outside = "oifname != \"\(tunnel)\""
        case .interfaces(let names): outside = "oifname { " + names.map { "\"\($0)\"" }.joined(separator: ", ") + " }"
        }
        let elements = setElements(homeAddresses)
        let elementLine = elements.isEmpty ? "" : "\n\t\telements = { \(elements.joined(separator: ", ")) }"
        let untracked = controllerPort.map { port in
            """
            \tchain controller_prerouting {
            \t\ttype filter hook prerouting priority raw; policy accept;
            \t\tfib daddr type local tcp dport \(port) notrack
            \t}
            \tchain controller_output {
            \t\ttype filter hook output priority raw; policy accept;
            \t\ttcp sport \(port) notrack
            \t}

            """
        } ?? ""
        return deletion(table: table) + """
            table ip \(table) {
            \tset home_addresses {
            \t\ttype ipv4_addr
            \t\tflags interval\(elementLine)
            \t}
            \tchain postrouting {
            \t\ttype nat hook postrouting priority 100; policy accept;
            \t\tip saddr @home_addresses \(outside) masquerade
            \t}
            \(untracked)}

            """
    }

    /// The `nft -f -` input that empties the table's set of Home Addresses and fills it again.
    public static func setReplacement(table: String, homeAddresses: [IPPrefix]) -> String {
        let elements = setElements(homeAddresses)
        let flush = "flush set ip \(table) home_addresses\n"
        return elements.isEmpty
            ? flush : flush + "add element ip \(table) home_addresses { \(elements.joined(separator: ", ")) }\n"
    }

    /// The IPv4 Home Addresses and pools as elements of the interval set: an interval set refuses
    /// overlapping elements, so what a listed prefix already covers is left out.
    public static func setElements(_ homeAddresses: [IPPrefix]) -> [String] {
        let prefixes = homeAddresses.filter(\.address.isIPv4)
        let kept = prefixes.enumerated().filter { index, prefix in
            !prefixes.enumerated().contains { other, wider in
                other != index && wider.length < prefix.length && wider.contains(prefix.address)
            }
        }.map { _, prefix in
            prefix.length == 32 ? prefix.address.description : "\(RouteNetlinkMessage.networkAddress(of: prefix))/\(prefix.length)"
        }
        // Once written, 192.0.2.9/24 and 192.0.2.0/24 are the same element: keep the first of equal ones.
        var seen = Set<String>()
        return kept.filter { seen.insert($0).inserted }
    }

    // MARK: nft

    /// Runs `nft -f -` with `ruleset` on standard input (``ExternalCommand``: bounded, nft's own message
    /// in the error).
    public static func runNft(_ ruleset: String) throws {
        guard let nft = ExternalCommand("nft") else {
            throw GatewayError(
                "nft not found (looked in \(ExternalCommand.searchDirectories.joined(separator: ", "))); install nftables")
        }
        try nft.run(["-f", "-"], input: ruleset)
    }
}

/// A gateway change the Home Agent could not make.
public struct GatewayError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

extension Gateway: HomeAddressMasquerade {}
