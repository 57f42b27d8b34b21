import CoreMetrics
import Synchronization

/// What the controller did with its connections since the start: `tern status` shows it, and the
/// metrics endpoint has it as `tern_hac_connections_total{event}` (docs/metrics.md).
public struct ControllerStatistics: Sendable, Hashable, Codable {
    /// Connections accepted from the kernel.
    public var accepted: UInt64 = 0
    /// Closed unserved to make room for newer ones (per-source or global cap).
    public var shed: UInt64 = 0
    /// Closed at once: no room and nothing to shed, or no descriptor left.
    public var refused: UInt64 = 0
    /// Closed for passing a phase's deadline (nothing sent, slow handshake, slow exchange).
    public var timedOut: UInt64 = 0
    /// PSK attempts answered 503 with `retry-after` (guessing's backoff).
    public var throttled: UInt64 = 0
    /// Exchanges that ended in an error status or a TLS failure.
    public var failed: UInt64 = 0
    /// Exchanges that provisioned an SA.
    public var provisioned: UInt64 = 0
    /// Connections open now.
    public var open: UInt64 = 0

    public init() {}

    /// One line for `tern status` and the final log line.
    public var summary: String {
        "controller: \(open) open, accepted \(accepted), provisioned \(provisioned), failed \(failed), "
            + "shed \(shed), refused \(refused), timed out \(timedOut), throttled \(throttled)"
    }
}

/// The counters behind ``ControllerStatistics``: the loop thread adds, any thread reads. Made before
/// the service (a status report may read it before the controller is up).
public final class ControllerCounters: Sendable {
    enum Event: String, CaseIterable {
        case accepted, shed, refused
        case timedOut = "timed_out"
        case throttled, failed, provisioned
    }

    private let accepted = Atomic<UInt64>(0)
    private let shed = Atomic<UInt64>(0)
    private let refused = Atomic<UInt64>(0)
    private let timedOut = Atomic<UInt64>(0)
    private let throttled = Atomic<UInt64>(0)
    private let failed = Atomic<UInt64>(0)
    private let provisioned = Atomic<UInt64>(0)
    private let open = Atomic<UInt64>(0)

    public init() {}

    func add(_ event: Event, _ count: UInt64 = 1) {
        switch event {
        case .accepted: accepted.add(count, ordering: .relaxed)
        case .shed: shed.add(count, ordering: .relaxed)
        case .refused: refused.add(count, ordering: .relaxed)
        case .timedOut: timedOut.add(count, ordering: .relaxed)
        case .throttled: throttled.add(count, ordering: .relaxed)
        case .failed: failed.add(count, ordering: .relaxed)
        case .provisioned: provisioned.add(count, ordering: .relaxed)
        }
        Counter(label: Self.metric, dimensions: [("event", event.rawValue)]).increment(by: Int64(clamping: count))
    }

    func setOpen(_ count: Int) {
        open.store(UInt64(max(count, 0)), ordering: .relaxed)
    }

    /// Makes every event's series exist at 0.
    public static func registerAll() {
        for event in Event.allCases { Counter(label: metric, dimensions: [("event", event.rawValue)]).increment(by: 0) }
    }

    public func snapshot() -> ControllerStatistics {
        var statistics = ControllerStatistics()
        statistics.accepted = accepted.load(ordering: .relaxed)
        statistics.shed = shed.load(ordering: .relaxed)
        statistics.refused = refused.load(ordering: .relaxed)
        statistics.timedOut = timedOut.load(ordering: .relaxed)
        statistics.throttled = throttled.load(ordering: .relaxed)
        statistics.failed = failed.load(ordering: .relaxed)
        statistics.provisioned = provisioned.load(ordering: .relaxed)
        statistics.open = open.load(ordering: .relaxed)
        return statistics
    }

    static let metric = "tern_hac_connections_total"
}
