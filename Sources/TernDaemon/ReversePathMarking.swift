import Foundation
public import Logging
import Synchronization
import TernOS

/// What the full tunnel needs so that strict reverse-path filtering does not drop the Home Agent's
/// replies, as wg-quick does it (docs/gateway.md):
///
///     sysctl -w net.ipv4.conf.all.src_valid_mark=1
///     table inet tern_mark_<tunnel> {
///         chain prerouting  { type filter hook prerouting priority mangle; ct mark 7872 meta mark set ct mark }
///         chain postrouting { type filter hook postrouting priority mangle; meta mark 7872 ct mark set meta mark }
///     }
///
/// Why: the tunnel's datagrams leave with SO_MARK 7872 and so by the main table, but a reply carries no
/// mark. With `rp_filter = 1` the kernel checks that the reply's source would be routed back out of the
/// interface it came in on — looked up without a mark, the policy rules send the Home Agent's address
/// into the TUN device, so the check fails and the reply is dropped. The postrouting rule copies the mark
/// into the connection's conntrack entry; the prerouting rule puts it back on every reply; with
/// `src_valid_mark = 1` the reverse-path lookup uses it and finds the uplink. It covers the UDP data
/// channel and the TCP connection to the HAC alike.
///
/// Neither part is essential when reverse-path filtering is loose (2, Debian's and Ubuntu's default) or
/// off, so a failure here is a warning, not a reason to stop: the tunnel works without it unless
/// `rp_filter` is strict.
///
/// Undone by ``undo()``: the table is deleted and the sysctl written back. The value found at start is
/// also kept in a record file beside the control socket, so that after a crash the next start knows the
/// value to put back instead of taking the crashed run's 1 for the original. A table left by a crashed
/// run is deleted in the transaction that creates the new one.
///
/// Thread safety: ``undo()`` may be called from any thread, more than once; only the first call acts.
public final class ReversePathMarking: Sendable {
    public static let sysctl = "net.ipv4.conf.all.src_valid_mark"

    public let tableName: String
    private let recordPath: String
    /// The sysctl's value before the node changed it; nil when it was already 1 (nothing to undo) or could
    /// not be read.
    private let original: String?
    private let tableInstalled: Bool
    private let logger: Logger
    private let undone = Atomic<Bool>(false)

    /// Installs the nftables table and sets the sysctl; logs a warning for each part that fails.
    ///
    /// - Parameters:
    ///   - tunnel: the TUN device's name, which names the table and the record.
    ///   - recordDirectory: where the record of the sysctl's original value is kept (the control
    ///     socket's directory).
    public init(tunnel: String, recordDirectory: String, logger: Logger) {
        self.logger = logger
        tableName = Self.tableName(tunnel: tunnel)
        recordPath = (recordDirectory as NSString).appendingPathComponent("\(tunnel).src_valid_mark")
        do {
            try Gateway.runNft(Self.ruleset(table: tableName))
            tableInstalled = true
        } catch {
            tableInstalled = false
            logger.warning(
                "full tunnel: cannot install nftables table inet \(tableName) (\(error)); with strict reverse-path filtering (rp_filter = 1) the home agent's replies will be dropped"
            )
        }
        original = Self.setSysctl(recordPath: recordPath, logger: logger)
        logger.info(
            "full tunnel: replies to marked packets get the mark back (\(tableInstalled ? "table inet \(tableName)" : "no nftables table")), \(Self.sysctl)=1\(original.map { " (was \($0))" } ?? "")"
        )
    }

    /// Deletes the table and writes the sysctl back, then removes the record.
    public func undo() {
        guard !undone.exchange(true, ordering: .acquiringAndReleasing) else { return }
        if tableInstalled {
            do { try Gateway.runNft(Gateway.deletion(table: tableName, family: "inet")) } catch {
                logger.error("full tunnel: could not delete nftables table inet \(tableName): \(error)")
            }
        }
        guard let original else { return }
        do {
            try Sysctl.write(Self.sysctl, original)
            SysctlRecord.remove(recordPath)
            logger.info("full tunnel: restored \(Self.sysctl)=\(original)")
        } catch {
            logger.error("full tunnel: could not restore \(Self.sysctl)=\(original): \(error)")
        }
    }

    /// Sets the sysctl to 1 and returns the value to restore: the one a crashed run recorded, else the
    /// one found now; nil when there is nothing to restore.
    private static func setSysctl(recordPath: String, logger: Logger) -> String? {
        var original: String
        if let recorded = SysctlRecord.read(recordPath) {
            original = recorded
            logger.warning("full tunnel: an earlier run did not stop cleanly; \(sysctl) will be restored to its recorded \(recorded)")
        } else {
            do {
                original = try Sysctl.read(sysctl)
            } catch {
                logger.warning("full tunnel: cannot read \(sysctl): \(error)")
                return nil
            }
        }
        if original == "1" {
            SysctlRecord.remove(recordPath)
            return nil
        }
        do {
            try SysctlRecord.write(recordPath, original)
        } catch {
            logger.warning("full tunnel: cannot record \(sysctl)=\(original) in \(recordPath) (\(error)); after a crash it stays 1")
        }
        do {
            try Sysctl.write(sysctl, "1")
        } catch {
            logger.warning(
                "full tunnel: cannot set \(sysctl)=1 (\(error)); with strict reverse-path filtering (rp_filter = 1) the home agent's replies will be dropped"
            )
            SysctlRecord.remove(recordPath)
            return nil
        }
        return original
    }

    // MARK: Ruleset (pure)

    public static func tableName(tunnel: String) -> String {
        "tern_mark_" + String(tunnel.map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" })
    }

    /// The whole `nft -f -` input: delete a stale table, then create the two chains.
    public static func ruleset(table: String) -> String {
        let mark = FullTunnelRouting.firewallMark
        return Gateway.deletion(table: table, family: "inet") + """
            table inet \(table) {
            \tchain prerouting {
            \t\ttype filter hook prerouting priority mangle; policy accept;
            \t\tct mark \(mark) meta mark set ct mark
            \t}
            \tchain postrouting {
            \t\ttype filter hook postrouting priority mangle; policy accept;
            \t\tmeta mark \(mark) ct mark set meta mark
            \t}
            }

            """
    }
}
