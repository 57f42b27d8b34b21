import CoreMetrics
public import TernTunnel

/// The Mobile Node's handovers, recorded through swift-metrics when the control plane reports a record
/// (complete, or cut short by the next change): `tern_handovers_total{trigger}`, and the histograms
/// `tern_handover_acknowledged_seconds{trigger}` (detection → Binding Acknowledgement) and
/// `tern_handover_first_data_seconds{trigger}` (detection → first data from the Home Agent). A step that
/// never happened is not recorded.
public enum HandoverMetrics {
    /// Histogram buckets from 0.5 ms (a move on the same machine) to 5 s (a slow network, a lost Binding
    /// Update and its retransmission).
    public static let latencyBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .milliseconds(2500), .seconds(5),
    ]

    public static func record(_ record: HandoverRecord) {
        self.record(
            trigger: record.trigger, acknowledgedAfterMilliseconds: record.acknowledgedAfterMilliseconds,
            firstDataAfterMilliseconds: record.firstDataAfterMilliseconds)
    }

    public static func record(
        trigger: HandoverRecord.Trigger, acknowledgedAfterMilliseconds: Double?, firstDataAfterMilliseconds: Double?
    ) {
        let dimensions = [("trigger", trigger.rawValue)]
        Counter(label: "tern_handovers_total", dimensions: dimensions).increment()
        if let milliseconds = acknowledgedAfterMilliseconds {
            Timer(label: "tern_handover_acknowledged_seconds", dimensions: dimensions)
                .recordNanoseconds(nanoseconds(milliseconds))
        }
        if let milliseconds = firstDataAfterMilliseconds {
            Timer(label: "tern_handover_first_data_seconds", dimensions: dimensions)
                .recordNanoseconds(nanoseconds(milliseconds))
        }
    }

    private static func nanoseconds(_ milliseconds: Double) -> Int64 {
        guard milliseconds.isFinite, milliseconds > 0 else { return 0 }
        return milliseconds >= 9e12 ? Int64(9e18) : Int64(milliseconds * 1e6)
    }
}
