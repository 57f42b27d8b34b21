import Synchronization
public import TernOS

/// The thread that keeps sequence state on disk for a data plane (`tern-seq-state`): persists each
/// reservation before it is granted, each receive high-water mark within
/// ``SequenceStatePersistence/highWaterPeriod`` of its move, and everything plus the clean-stop marker
/// at ``stop()``. Sleeps while nothing changes (no periodic wake-up).
public final class SequenceStateThread: @unchecked Sendable {
    private final class StopFlag: Sendable {
        let value = Atomic<Bool>(false)
    }
    private let stopping = StopFlag()
    private let wakeUp: Notifier
    private var thread: PlatformThread?

    /// - Parameter log: called with each failure to persist (the numbers are then not granted).
    public init(
        source: any SequenceStateSource, stores: [any SequenceStateStore], log: @escaping @Sendable (String) -> Void
    ) throws(SystemCallError) {
        let wakeUp = try Notifier()
        self.wakeUp = wakeUp
        thread = try PlatformThread(name: "tern-seq-state") { [stopping] in
            var persistence = SequenceStatePersistence(source: source, stores: stores)
            let poller = Poller([
                source.reservationRequests.notifier.descriptor.rawValue, source.highWaterBell.notifier.descriptor.rawValue,
                wakeUp.descriptor.rawValue,
            ])
            while !stopping.value.load(ordering: .acquiring) {
                _ = try? poller.wait(timeoutMilliseconds: persistence.pollTimeout(at: monotonicNanoseconds()) ?? -1)
                for failure in persistence.serviceReservations() { log(failure) }
                let now = monotonicNanoseconds()
                if poller.isReadable(1) { persistence.highWaterMoved(at: now) }
                for failure in persistence.persistHighWater(at: now) { log(failure) }
            }
            for failure in persistence.stop(at: monotonicNanoseconds()) { log(failure) }
        }
    }

    /// Stops the thread after its last writes. Call after the data plane's threads have stopped, so the
    /// marks it writes are final and the clean-stop marker is true. Idempotent.
    public func stop() {
        stopping.value.store(true, ordering: .releasing)
        wakeUp.signal()
        thread?.join()
        thread = nil
    }
}
