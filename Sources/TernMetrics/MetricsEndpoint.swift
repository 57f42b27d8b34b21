import Prometheus
import Synchronization
public import TernOS
public import TernProtocol

/// The Prometheus endpoint of a daemon: swift-metrics bootstrapped (once), the HTTP responder bound and
/// its thread started. What the data plane counts is read only when a scrape comes (``addCollector(_:)``):
/// nothing is added to the packet path.
///
/// Thread safety: every member may be called from any thread; collectors run on the endpoint's thread,
/// one scrape at a time.
public final class MetricsEndpoint: Sendable {
    /// The bound address (with the kernel's port when the configured one was 0).
    public let address: SocketAddress
    private let server: MetricsHTTPServer
    private let collectors = Collectors()

    private final class Collectors: Sendable {
        let list = Mutex<[@Sendable () -> Void]>([])
    }

    /// Bootstraps the metrics system for `role`, binds `listen` and starts serving.
    /// - Throws: `SystemCallError` when the address cannot be bound (in use, not local, …).
    public init(
        listen: SocketAddress, role: MetricsRole, events: @escaping @Sendable (MetricsHTTPServer.Event) -> Void
    ) throws(SystemCallError) {
        let registry = TernMetricsSystem.bootstrap(role: role)
        let server = try MetricsHTTPServer(address: listen)
        self.server = server
        address = server.localAddress()
        let collectors = collectors
        try server.start(
            render: {
                // Copied out, then run without the lock: a collector may take a data plane's own lock.
                for collect in collectors.list.withLock({ $0 }) { collect() }
                return registry.emitToBuffer()
            },
            events: events)
    }

    /// Adds work done before each scrape: reading a data plane's counters into swift-metrics.
    public func addCollector(_ collect: @escaping @Sendable () -> Void) {
        collectors.list.withLock { $0.append(collect) }
    }

    /// Stops serving and closes the socket. Idempotent.
    public func stop() { server.stop() }
}
