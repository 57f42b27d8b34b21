import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import TernProtocol
import TernTunnel

/// Keeps a started data plane running under swift-service-lifecycle: writes the status file every
/// second, and on SIGINT/SIGTERM stops the data-plane threads, writes the status once more and logs the
/// final counters.
struct DataPlaneService: Service, CustomStringConvertible {
    let logger: Logger
    let statusFile: String?
    let report: @Sendable () -> StatusReport
    let stop: @Sendable () -> Void

    /// What swift-service-lifecycle logs for this service (at debug): its name, not its closures and fields.
    var description: String { "DataPlaneService" }

    /// How often the status file is rewritten.
    static let statusInterval: Duration = .seconds(1)

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            // Without a status file nothing is due until the stop: sleep through (no periodic wake-up,
            // DESIGN.md: idle is idle); cancellation at the stop ends the sleep.
            let interval = statusFile == nil ? Duration.seconds(86_400) : Self.statusInterval
            while true {
                try await Task.sleep(for: interval)
                writeStatus()
            }
        }
        stop()
        writeStatus()
        logger.info("stopped: \(report().summary)")
    }

    private func writeStatus() {
        guard let statusFile else { return }
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let data = try encoder.encode(report())
            // Write beside, then rename: a reader never sees half a file.
            let temporary = statusFile + ".tmp"
            try data.write(to: URL(fileURLWithPath: temporary))
            guard rename(temporary, statusFile) == 0 else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: statusFile])
            }
        } catch {
            logger.warning("cannot write status file \(statusFile): \(error)")
        }
    }
}

/// Runs `service` until SIGINT or SIGTERM.
func runUntilSignalled(_ service: DataPlaneService, logger: Logger) async throws {
    let group = ServiceGroup(
        configuration: .init(services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
    try await group.run()
}

/// Stops the command with `message` on standard error and exit status 1 (78, EX_CONFIG, for bad
/// configuration).
func fail(_ message: String, configuration: Bool = false) -> ExitCode {
    FileHandle.standardError.write(Data(("tern: " + message + "\n").utf8))
    return ExitCode(configuration ? 78 : 1)
}

/// The default MTU of a TUN device: the largest inner packet that every suite in use can seal into a
/// datagram that fits a 1500-octet path with IPv6 and UDP headers around it.
func defaultMTU(for suites: [Ciphersuite]) -> Int {
    let outerOverhead = 40 + 8
    return suites.map { $0.largestPayload(forDatagramLength: 1500 - outerOverhead) }.min() ?? 1400
}
