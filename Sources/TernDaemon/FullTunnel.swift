public import Logging
import Synchronization
public import TernOS
import TernProtocol

/// The Mobile Node's full tunnel (`tunnel.full-tunnel: true`), routed as wg-quick routes a WireGuard
/// interface that carries 0.0.0.0/0 (docs/gateway.md):
///
///     ip rule add priority 7870 lookup main suppress_prefixlength 0
///     ip rule add priority 7871 not fwmark 7872 lookup 7872
///     ip route add 0.0.0.0/0 dev tern0 table 7872        (and the same with -6)
///
/// Every packet first sees the main table without its default routes (the LAN, a VPN's own routes and
/// host routes keep working); what is left goes to table 7872, whose default route is the TUN device.
/// The data plane's UDP sockets carry SO_MARK 7872, so the tunnel's own datagrams skip the second rule
/// and leave by the main table's default route: the Home Agent stays reachable outside the tunnel however
/// the node roams, and the control plane looks the route up with that mark (RTA_MARK) to see the same.
///
/// Everything goes through rtnetlink. The routes in table 7872 go away with the TUN device; the rules are
/// deleted by ``remove()``, and rules left by a crashed run are deleted by ``removeStale(_:)`` before
/// anything is added. Priorities, table and mark are fixed, so a later run knows what to look for. With
/// strict reverse-path filtering the replies need their mark back: ``ReversePathMarking``.
///
/// Thread safety: ``remove()`` may be called from any thread, more than once; only the first call acts.
public final class FullTunnelRouting: Sendable {
    /// The routing table of Tern's own, and the firewall mark of the tunnel's own datagrams (7872, the
    /// service port, as wg-quick uses its port 51820 for both).
    public static let table: UInt32 = 7872
    public static let firewallMark: UInt32 = 7872
    public static let suppressPriority: UInt32 = 7870
    public static let tunnelPriority: UInt32 = 7871
    /// How many copies of one rule a stale cleanup deletes at most (a crash loop may leave several).
    public static let maximumStaleCopies = 16

    /// The two rules of one family: the main table without default routes, then the tunnel's table for
    /// everything not marked.
    public static func rules(ipv6: Bool) -> [RouteNetlinkMessage.Rule] {
        [
            .init(
                ipv6: ipv6, priority: suppressPriority, table: UInt32(RouteNetlinkMessage.RT_TABLE_MAIN),
                suppressPrefixLength: 0),
            .init(ipv6: ipv6, priority: tunnelPriority, table: table, firewallMark: firewallMark, invert: true),
        ]
    }

    private let netlink: RouteNetlink
    private let installed: Mutex<[RouteNetlinkMessage.Rule]>
    private let marking: ReversePathMarking
    private let logger: Logger

    /// Deletes stale rules, then routes 0.0.0.0/0 (and ::/0 when `ipv6`) into the TUN device in
    /// ``table`` and adds the rules. On a failure, what was added is deleted before the error is thrown.
    /// Then makes replies pass strict reverse-path filtering (``ReversePathMarking``, which only warns
    /// when it cannot).
    ///
    /// - Parameters:
    ///   - tunnel: the TUN device's name.
    ///   - recordDirectory: where ``ReversePathMarking`` records the sysctl value it changes.
    public init(
        netlink: RouteNetlink, tunIndex: UInt32, tunnel: String, ipv6: Bool, recordDirectory: String, logger: Logger
    ) throws(NetlinkError) {
        self.netlink = netlink
        self.logger = logger
        installed = Mutex([])
        Self.removeStale(netlink, logger: logger)
        var added: [RouteNetlinkMessage.Rule] = []
        do {
            for family in ipv6 ? [false, true] : [false] {
                // A /0 of either family is always a prefix; the guard only keeps `!` out.
                guard let everything = IPPrefix(address: family ? .v6(.any) : .v4(.any), length: 0) else { continue }
                try netlink.addRoute(everything, interfaceIndex: tunIndex, table: Self.table)
                for rule in Self.rules(ipv6: family) {
                    try netlink.addRule(rule)
                    added.append(rule)
                }
            }
        } catch {
            for rule in added.reversed() { try? netlink.deleteRule(rule) }
            throw error
        }
        marking = ReversePathMarking(tunnel: tunnel, recordDirectory: recordDirectory, logger: logger)
        installed.withLock { $0 = added }
        logger.info(
            "full tunnel: \(ipv6 ? "IPv4 and IPv6" : "IPv4") routed into the tunnel (table \(Self.table), rules \(Self.suppressPriority) and \(Self.tunnelPriority), mark \(Self.firewallMark))"
        )
    }

    /// Deletes the rules this run added and undoes the reply marking. The routes of ``table`` go with the
    /// TUN device.
    public func remove() {
        marking.undo()
        let rules = installed.withLock { rules in
            defer { rules = [] }
            return rules
        }
        for rule in rules.reversed() {
            do { try netlink.deleteRule(rule) } catch where !error.isNotFound {
                logger.error("full tunnel: could not delete rule \(rule): \(error)")
            } catch {}
        }
        if !rules.isEmpty { logger.info("full tunnel: policy rules removed") }
    }

    /// Deletes Tern's rules that a run which did not stop cleanly left behind, in both families.
    public static func removeStale(_ netlink: RouteNetlink, logger: Logger) {
        for ipv6 in [false, true] {
            for rule in rules(ipv6: ipv6) {
                for _ in 0..<maximumStaleCopies {
                    do {
                        try netlink.deleteRule(rule)
                        logger.warning("full tunnel: deleted rule \(rule) left by an earlier run")
                    } catch {
                        break  // not there (or the family is disabled): nothing to clean
                    }
                }
            }
        }
    }
}
