public import Logging
public import TernOS
import Synchronization

/// The co-located controller's state thread (`tern-ha-state`): it runs the three jobs that keep the
/// controller's state as the data plane changes it — binding persistence (``BindingPersistence``), SA
/// retirement (``RetirementQueue``) and the removal of SAs past their validity end. It is woken by the data
/// plane's binding changes, the retirement queue, the stop, or the next deadline; never periodically.
/// (Sequence reservations are the SequenceStateThread's, for static and issued SAs alike.)
public final class ControllerStateKeeper: @unchecked Sendable {
    private final class StopFlag: Sendable {
        let value = Atomic<Bool>(false)
    }

    /// The longest the thread sleeps with a deadline ahead (a day; poll takes milliseconds as Int32).
    public static let maximumSleepMilliseconds: Double = 86_400_000

    private let stopping = StopFlag()
    private let wakeUp: Notifier
    private var thread: PlatformThread?

    public init(
        plane: any ControllerDataPlane, bindings: BindingPersistence, retirements: RetirementQueue, logger: Logger
    ) throws(SystemCallError) {
        let wakeUp = try Notifier()
        self.wakeUp = wakeUp
        thread = try PlatformThread(name: "tern-ha-state") { [stopping] in
            let poller = Poller([
                plane.bindingChangeNotifier.descriptor.rawValue, wakeUp.descriptor.rawValue,
                retirements.notifier.descriptor.rawValue,
            ])
            while !stopping.value.load(ordering: .acquiring) {
                let timeout = Self.timeoutMilliseconds(
                    nextValidityEnd: plane.nextValidityEnd, nextRetirement: retirements.nextDue, clock: .now())
                _ = try? poller.wait(timeoutMilliseconds: timeout ?? -1)
                Self.runDueWork(plane: plane, bindings: bindings, retirements: retirements, clock: .now(), logger: logger)
            }
        }
    }

    /// One round of the three jobs at `clock`: due retirements, binding changes, expired SAs.
    public static func runDueWork(
        plane: any ControllerDataPlane, bindings: BindingPersistence, retirements: RetirementQueue, clock: ClockPair,
        logger: Logger
    ) {
        for retired in retirements.takeDue(at: clock.monotonicNow) where plane.remove(retired.spi) {
            logger.info("retired SA \(retired.spi.rawValue) of \(retired.mobileNode)")
        }
        for change in plane.takeBindingChanges() {
            do { try bindings.save(change, clock: clock) } catch {
                logger.error("cannot persist the binding of SPI \(change.spi.rawValue): \(error)")
            }
        }
        // SAs past their validity end leave the data plane (their MN has re-keyed, or must).
        for spi in plane.removeExpired(at: clock.wallNow) {
            logger.info("SA \(spi.rawValue) reached its validity end and was removed")
        }
    }

    /// How long to sleep: until the earlier of the next validity end (wall clock) and the next retirement
    /// (monotonic), one millisecond late so the deadline has passed on waking; nil: no deadline.
    public static func timeoutMilliseconds(nextValidityEnd: Double?, nextRetirement: UInt64?, clock: ClockPair) -> Int32? {
        let untilExpiry = nextValidityEnd.map { max($0 - clock.wallNow, 0) * 1000 + 1 }
        let untilRetirement = nextRetirement.map {
            $0 > clock.monotonicNow ? Double($0 - clock.monotonicNow) / 1e6 + 1 : 0
        }
        return [untilExpiry, untilRetirement].compactMap { $0 }.min().map {
            $0.isNaN ? 0 : Int32(min($0, maximumSleepMilliseconds))
        }
    }

    public func stop() {
        stopping.value.store(true, ordering: .releasing)
        wakeUp.signal()
        thread?.join()
        thread = nil
    }
}
