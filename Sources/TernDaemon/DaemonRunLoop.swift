#if canImport(Glibc)
import Glibc  // signal numbers and EINVAL; no call
#endif
public import Logging
public import TernOS

/// The daemons' main thread once everything runs: it sleeps in `poll` on a signalfd and wakes for
/// SIGTERM/SIGINT (stop), SIGHUP (reload the configuration) and, only when a status file is configured,
/// every ``statusInterval`` to rewrite it. Nothing else runs on it, and nothing of Swift concurrency runs
/// at all: its global executor on Linux is libdispatch's worker pool, whose first use starts a 1 s timer
/// that then wakes the process forever (docs/tunnel.md, "Idle is idle").
///
/// Order matters: ``blockSignals()`` is the first thing a daemon does, before any thread exists, so every
/// thread inherits the blocked mask; ``run()`` checks that no thread escaped it.
public struct DaemonRunLoop {
    /// Stop: SIGTERM (systemd, kill), SIGINT (^C). Reload: SIGHUP (systemctl reload).
    public static let stopSignals = [SIGTERM, SIGINT]
    public static let reloadSignal = SIGHUP
    /// How often the status file is rewritten, in milliseconds.
    public static let statusInterval: Int32 = 1_000
    /// The exit status after a data-plane thread failed: EX_SOFTWARE (sysexits.h), "an internal software
    /// error", non-zero so that a supervisor (systemd's Restart=on-failure) starts the daemon again.
    public static let dataPlaneFailureStatus: Int32 = 70

    /// What a signal asks of the loop. Pure.
    public enum Action: Sendable, Equatable {
        case reload
        /// Stop; the text names the signal for the log.
        case stop(String)
        /// Not one of ours (the signalfd only delivers those it was made for; kept total anyway).
        case ignore
    }

    /// How the loop ended.
    public enum Outcome: Sendable, Equatable {
        /// SIGTERM or SIGINT, or a failed poll.
        case stopped
        /// A data-plane thread failed: the daemon should exit with ``dataPlaneFailureStatus``.
        case dataPlaneFailed
    }

    public let signals: SignalDescriptor
    public let logger: Logger
    /// The status file to write, if any (a reload may change it).
    public var statusFile: String?
    public let report: @Sendable () -> StatusReport
    /// Re-reads the configuration and applies what it can; returns the status file from now on.
    public let reload: () -> String?
    /// Stops every thread and undoes what the daemon changed on the system.
    public let stop: () -> Void
    /// Signalled by a data-plane thread that stopped on an error: the daemon then stops as for SIGTERM and
    /// exits with ``dataPlaneFailureStatus``, instead of running on with no traffic.
    public var failure: Notifier?

    public init(
        signals: SignalDescriptor, logger: Logger, statusFile: String?, report: @escaping @Sendable () -> StatusReport,
        reload: @escaping () -> String?, stop: @escaping () -> Void, failure: Notifier? = nil
    ) {
        self.signals = signals
        self.logger = logger
        self.statusFile = statusFile
        self.report = report
        self.reload = reload
        self.stop = stop
        self.failure = failure
    }

    /// Blocks the stop and reload signals in the calling thread and every thread it creates from now on.
    public static func blockSignals() throws(DaemonError) -> SignalDescriptor {
        do {
            return try SignalDescriptor(blocking: stopSignals + [reloadSignal])
        } catch {
            throw DaemonError("cannot block SIGTERM, SIGINT and SIGHUP for the signal loop: \(error)")
        }
    }

    public static func action(for signal: Int32) -> Action {
        if signal == reloadSignal { return .reload }
        if signal == SIGTERM { return .stop("SIGTERM") }
        if signal == SIGINT { return .stop("SIGINT") }
        return .ignore
    }

    /// The poll timeout: the status interval with a status file, none (-1) without.
    public static func timeout(statusFile: String?) -> Int32 { statusFile == nil ? -1 : statusInterval }

    /// Waits for signals until SIGTERM or SIGINT (or a data-plane failure), then stops everything, writes
    /// the status once more and logs the final counters.
    /// - Throws: ``DaemonError`` when a thread does not block the signals (everything is stopped first).
    public mutating func run() throws(DaemonError) -> Outcome {
        do {
            let escaped = try SignalDescriptor.threadsNotBlocking(signals.signals)
            guard escaped.isEmpty else {
                throw SystemCallError(
                    "thread(s) \(escaped.joined(separator: ", ")) would take SIGTERM with its default action",
                    errno: EINVAL)
            }
        } catch {
            stop()
            throw DaemonError("signal loop: \(error)")
        }
        let poller = Poller([signals.descriptor.rawValue] + (failure.map { [$0.descriptor.rawValue] } ?? []))
        var running = true
        var outcome = Outcome.stopped
        while running {
            do {
                try poller.wait(timeoutMilliseconds: Self.timeout(statusFile: statusFile))
                if failure != nil, poller.isReadable(1) {
                    logger.critical(
                        "a data-plane thread stopped (logged above); stopping with exit status \(Self.dataPlaneFailureStatus) so that the supervisor starts the daemon again")
                    outcome = .dataPlaneFailed
                    running = false
                }
                while let signal = try signals.next() {
                    switch Self.action(for: signal) {
                    case .reload:
                        logger.info("SIGHUP: reloading the configuration")
                        statusFile = reload()
                    case .stop(let name):
                        logger.info("\(name): stopping")
                        running = false
                    case .ignore:
                        break
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
        return outcome
    }

    private func writeStatus() {
        guard let statusFile else { return }
        do {
            // Root-only (it names identities, endpoints and SPIs), written beside and renamed: a reader
            // never sees half a file, and a file left 0644 by an older version becomes 0600.
            try PrivateFile.replace(statusFile, contents: try report().json())
        } catch {
            logger.warning("cannot write status file \(statusFile): \(error)")
        }
    }
}
