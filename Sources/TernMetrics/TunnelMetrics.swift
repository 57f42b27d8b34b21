import CoreMetrics
import Synchronization
import TernProtocol
public import TernTunnel

/// The data plane's counters as Prometheus counters. The data plane keeps plain per-thread integers and
/// publishes their sums (``TunnelCounters``); at each scrape ``update(_:)`` adds what grew since the last
/// one to swift-metrics counters. No metrics call is ever made per packet.
///
/// Exported (every one with `role`): `tern_packets_sent_total`, `tern_packets_received_total`,
/// `tern_bytes_sent_total`, `tern_bytes_received_total` (inner packets and their octets),
/// `tern_keepalives_sent_total`, `tern_keepalives_received_total`, `tern_mobility_headers_sent_total`,
/// `tern_mobility_headers_received_total`, `tern_binding_moves_total`, `tern_super_packets_read_total` and
/// `tern_super_packets_written_total` (TUN offloads), `tern_crypto_batches_split_total` (crypto lanes), and
/// `tern_drops_total{reason}` for
/// every ``DataChannelDropReason`` and ``TunnelDropReason`` (zeros included, so that a rate over a reason
/// that has not happened yet is 0, not absent).
public final class TunnelMetrics: Sendable {
    private struct Mirrored {
        var last = TunnelCounters()
    }

    private let state = Mutex(Mirrored())
    private let packetsSent = Counter(label: "tern_packets_sent_total")
    private let packetsReceived = Counter(label: "tern_packets_received_total")
    private let octetsSent = Counter(label: "tern_bytes_sent_total")
    private let octetsReceived = Counter(label: "tern_bytes_received_total")
    private let keepalivesSent = Counter(label: "tern_keepalives_sent_total")
    private let keepalivesReceived = Counter(label: "tern_keepalives_received_total")
    private let mobilityHeadersSent = Counter(label: "tern_mobility_headers_sent_total")
    private let mobilityHeadersReceived = Counter(label: "tern_mobility_headers_received_total")
    private let bindingMoves = Counter(label: "tern_binding_moves_total")
    private let superPacketsRead = Counter(label: "tern_super_packets_read_total")
    private let superPacketsWritten = Counter(label: "tern_super_packets_written_total")
    private let cryptoBatchesSplit = Counter(label: "tern_crypto_batches_split_total")
    private let dataChannelDrops = DataChannelDropReason.allCases.map { TunnelMetrics.dropCounter($0.label) }
    private let tunnelDrops = TunnelDropReason.allCases.map { TunnelMetrics.dropCounter($0.label) }

    public init() {
        // Present from the first scrape, at 0: a rate over something that has not happened yet is 0.
        for counter in dataChannelDrops + tunnelDrops + [superPacketsRead, superPacketsWritten, cryptoBatchesSplit] {
            counter.increment(by: 0)
        }
    }

    private static func dropCounter(_ reason: String) -> Counter {
        Counter(label: "tern_drops_total", dimensions: [("reason", reason)])
    }

    /// Adds the growth since the previous call. Counters never go down; a value that did (it cannot,
    /// short of a 64-bit wrap) is taken as a new start.
    public func update(_ current: TunnelCounters) {
        state.withLock { state in
            let last = state.last
            add(packetsSent, current.packetsSent, last.packetsSent)
            add(packetsReceived, current.packetsReceived, last.packetsReceived)
            add(octetsSent, current.octetsSent, last.octetsSent)
            add(octetsReceived, current.octetsReceived, last.octetsReceived)
            add(keepalivesSent, current.keepalivesSent, last.keepalivesSent)
            add(keepalivesReceived, current.keepalivesReceived, last.keepalivesReceived)
            add(mobilityHeadersSent, current.mobilityHeadersSent, last.mobilityHeadersSent)
            add(mobilityHeadersReceived, current.mobilityHeadersReceived, last.mobilityHeadersReceived)
            add(bindingMoves, current.bindingMoves, last.bindingMoves)
            add(superPacketsRead, current.superPacketsRead, last.superPacketsRead)
            add(superPacketsWritten, current.superPacketsWritten, last.superPacketsWritten)
            add(cryptoBatchesSplit, current.cryptoBatchesSplit, last.cryptoBatchesSplit)
            for (index, reason) in DataChannelDropReason.allCases.enumerated() {
                add(dataChannelDrops[index], current.dataChannelDrops[reason], last.dataChannelDrops[reason])
            }
            for (index, reason) in TunnelDropReason.allCases.enumerated() {
                let slot = Int(reason.rawValue)
                add(tunnelDrops[index], current.tunnelDrops[slot], last.tunnelDrops[slot])
            }
            state.last = current
        }
    }

    private func add(_ counter: Counter, _ current: UInt64, _ last: UInt64) {
        let growth = current >= last ? current - last : current
        if growth > 0 { counter.increment(by: Int64(clamping: growth)) }
    }
}

/// The Home Agent's gauges, set at each scrape: `tern_security_associations` (SAs in the data plane) and
/// `tern_bindings` (of them, those with a live registration).
public enum HomeAgentMetrics {
    public static func record(_ bindings: [HomeAgentBinding], now: UInt64) {
        let live = bindings.filter { ($0.entry?.expiresAt ?? 0) > now }.count
        record(securityAssociations: bindings.count, liveBindings: live)
    }

    public static func record(securityAssociations: Int, liveBindings: Int) {
        Gauge(label: "tern_security_associations").record(securityAssociations)
        Gauge(label: "tern_bindings").record(liveBindings)
    }
}

/// The Mobile Node's gauges, set at each scrape: `tern_binding_registered` (1 while the Home Agent holds
/// an accepted registration) and `tern_security_association_expiry_seconds` (seconds to the validity end
/// of the SA in use; only with a HAC, which gives one).
public enum MobileNodeMetrics {
    public static func record(_ registration: MobileNodeRegistration, securityAssociationExpirySeconds: Double?) {
        record(registered: registration.isRegistered, securityAssociationExpirySeconds: securityAssociationExpirySeconds)
    }

    public static func record(registered: Bool, securityAssociationExpirySeconds: Double?) {
        Gauge(label: "tern_binding_registered").record(registered ? 1 : 0)
        if let seconds = securityAssociationExpirySeconds {
            Gauge(label: "tern_security_association_expiry_seconds").record(seconds)
        }
    }
}
