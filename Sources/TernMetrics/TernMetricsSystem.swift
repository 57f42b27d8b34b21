import CoreMetrics
import Prometheus
import Synchronization
import TernProtocol

/// Which daemon the metrics describe: every metric carries it as the `role` label.
public enum MetricsRole: String, Sendable {
    case homeAgent = "ha"
    case mobileNode = "mn"
}

/// The process's swift-metrics backend: a Prometheus registry, bootstrapped once and only when the metrics
/// endpoint is on. Until then swift-metrics' default no-op handler takes every call (nothing is kept), so
/// the counting sprinkled through the control plane costs nothing in a daemon without `metrics:`.
///
/// Thread safety: every member may be called from any thread.
public enum TernMetricsSystem {
    /// The version `tern_build_info` reports.
    public static var version: String { TernVersion.current }

    private static let registry = Mutex<PrometheusCollectorRegistry?>(nil)

    /// Bootstraps swift-metrics with a Prometheus factory that adds `role` to every metric, sets
    /// `tern_build_info`, and returns the registry. Once per process: later calls return the first
    /// registry (and keep its role), since swift-metrics allows one bootstrap.
    ///
    /// What swift-prometheus refuses with a trap, and so no caller may do: give a metric its own `role`
    /// dimension (a label twice), or use one name for two kinds of metric (a counter and a gauge).
    static func bootstrap(role: MetricsRole) -> PrometheusCollectorRegistry {
        registry.withLock { current in
            if let current { return current }
            let created = PrometheusCollectorRegistry()
            var factory = PrometheusMetricsFactory(registry: created)
            factory.defaultDurationHistogramBuckets = HandoverMetrics.latencyBuckets
            factory.nameAndLabelSanitizer = { name, labels in (name, [("role", role.rawValue)] + labels) }
            MetricsSystem.bootstrap(factory)
            current = created
            return created
        }.withBuildInfo()
    }

    /// The whole exposition as a scrape would see it, or nil before ``bootstrap(role:)``.
    public static func exposition() -> String? {
        registry.withLock { $0 }?.emitToString()
    }
}

extension PrometheusCollectorRegistry {
    /// Sets `tern_build_info{version=…} 1` (idempotent).
    fileprivate func withBuildInfo() -> PrometheusCollectorRegistry {
        Gauge(label: "tern_build_info", dimensions: [("version", TernMetricsSystem.version)]).record(1)
        return self
    }
}
