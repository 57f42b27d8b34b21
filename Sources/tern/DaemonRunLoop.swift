import Foundation
import ArgumentParser
import Logging
import TernDaemon
import TernOS

/// The daemons' main thread once everything runs: it sleeps in `poll` on a signalfd and wakes for
/// SIGTERM/SIGINT (stop), SIGHUP (reload the configuration) and, only when a status file is configured,
/// every ``statusInterval`` to rewrite it. Nothing else runs on it, and nothing of Swift concurrency runs
/// at all: its global executor on Linux is libdispatch's worker pool, whose first use starts a 1 s timer
/// that then wakes the process forever (docs/tunnel.md, "Idle is idle").
///
/// Order matters: ``blockSignals()`` is the first thing a daemon does, before any thread exists, so every
/// thread inherits the blocked mask; ``run()`` checks that no thread escaped it.
struct DaemonRunLoop {
    /// Stop: SIGTERM (systemd, kill), SIGINT (^C). Reload: SIGHUP (systemctl reload).
    static let stopSignals = [SIGTERM, SIGINT]
    static let reloadSignal = SIGHUP
    /// How often the status file is rewritten.
    static let statusInterval: Int32 = 1_000
    /// The exit status after a data-plane thread failed: EX_SOFTWARE (sysexits.h), "an internal software
    /// error", non-zero so that a supervisor (systemd's Restart=on-failure) starts the daemon again.
    static let dataPlaneFailureStatus: Int32 = 70

    let signals: SignalDescriptor
    let logger: Logger
    /// The status file to write, if any (a reload may change it).
    var statusFile: String?
    let report: @Sendable () -> StatusReport
    /// Re-reads the configuration and applies what it can; returns the status file from now on.
    let reload: () -> String?
    /// Stops every thread and undoes what the daemon changed on the system.
    let stop: () -> Void
    /// Signalled by a data-plane thread that stopped on an error (``DataPlaneFailure``): the daemon then
    /// stops as for SIGTERM and exits with ``dataPlaneFailureStatus``, instead of running on with no traffic.
    var failure: Notifier? = nil

    /// Blocks the stop and reload signals in the calling thread and every thread it creates from now on.
    static func blockSignals() throws -> SignalDescriptor {
        do {
            return try SignalDescriptor(blocking: stopSignals + [reloadSignal])
        } catch {
            throw fail("cannot block SIGTERM, SIGINT and SIGHUP for the signal loop: \(error)")
        }
    }

    /// Waits for signals until SIGTERM or SIGINT, then stops everything, writes the status once more
    /// and logs the final counters.
    mutating func run() throws {
        do {
            let escaped = try SignalDescriptor.threadsNotBlocking(signals.signals)
            guard escaped.isEmpty else {
                throw SystemCallError(
                    "thread(s) \(escaped.joined(separator: ", ")) would take SIGTERM with its default action",
                    errno: EINVAL)
            }
        } catch {
            stop()
            throw fail("signal loop: \(error)")
        }
        let poller = Poller([signals.descriptor.rawValue] + (failure.map { [$0.descriptor.rawValue] } ?? []))
        var running = true
        var failed = false
        while running {
            do {
                try poller.wait(timeoutMilliseconds: statusFile == nil ? -1 : Self.statusInterval)
                if failure != nil, poller.isReadable(1) {
                    logger.critical(
                        "a data-plane thread stopped (logged above); stopping with exit status \(Self.dataPlaneFailureStatus) so that the supervisor starts the daemon again")
                    failed = true
                    running = false
                }
                while let signal = try signals.next() {
                    if signal == Self.reloadSignal {
                        logger.info("SIGHUP: reloading the configuration")
                        statusFile = reload()
                    } else if Self.stopSignals.contains(signal) {
                        logger.info("\(signal == SIGTERM ? "SIGTERM" : "SIGINT"): stopping")
                        running = false
                    }
                }
            } catch {
                // Only a bug makes poll or read on a signalfd fail; stopping cleanly beats spinning.
                logger.critical("signal loop: \(error); stopping")
                running = false
            }
            writeStatus()
        }
        stop()
        writeStatus()
        logger.info("stopped: \(report().summary)")
        if failed { throw ExitCode(Self.dataPlaneFailureStatus) }
    }

    private func writeStatus() {
        guard let statusFile else { return }
        do {
            let data = try report().json()
            // Root-only (it names identities, endpoints and SPIs), written beside and renamed: a reader
            // never sees half a file, and a file left 0644 by an older version becomes 0600.
            try PrivateFile.replace(statusFile, contents: data)
        } catch {
            logger.warning("cannot write status file \(statusFile): \(error)")
        }
    }
}
