import Foundation
import Logging
import Synchronization
import TernConfig
import TernController
import TernProtocol
import TernMetrics
import TernOS
import TernTunnel

/// Starts the Prometheus endpoint when the config has `metrics:` (nil otherwise: no socket, and
/// swift-metrics stays on its no-op handler). Bound before anything outside the process changes, so that
/// a port in use stops the daemon with nothing to undo.
func startMetrics(_ settings: MetricsSettings?, role: MetricsRole, logger: Logger) throws -> MetricsEndpoint? {
    guard let settings else { return nil }
    let listen = SocketAddress(settings.address, port: settings.port)
    let endpoint: MetricsEndpoint
    do {
        endpoint = try MetricsEndpoint(
            listen: listen, role: role,
            events: { [logger] event in
                switch event {
                case .answered(let peer, let status, let request):
                    logger.debug("metrics: \(status) to \(peer) for \(request)")
                case .failed(let error):
                    logger.error("metrics endpoint stopped: \(error)")
                }
            })
    } catch {
        throw fail("cannot listen for metrics on \(listen): \(error)")
    }
    if !settings.isLoopback {
        logger.warning(
            "metrics on \(endpoint.address) are reachable beyond this machine (metrics.listen is not a loopback address); restrict access to port \(settings.port) by firewall"
        )
    }
    logger.info("metrics: http://\(endpoint.address)/metrics")
    return endpoint
}

/// What a control-plane event adds to the metrics (handovers); nothing while metrics are off.
func record(_ event: MobileNodeEvent) {
    if case .handover(let record) = event { HandoverMetrics.record(record) }
}
