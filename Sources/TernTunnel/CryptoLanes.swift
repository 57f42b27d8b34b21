import Synchronization
import TernOS
import TernRoles

/// Fork-join crypto for one data-plane thread (`tunnel.crypto-threads`, docs/tunnel.md: crypto lanes).
///
/// The owning thread (a data plane's sending or receiving thread) does everything order-dependent
/// itself; only the AEAD/ESP work of a big batch is split: ``perform(count:octets:)`` hands jobs
/// `[k, n)` to the workers in contiguous ranges, does `[0, k)` itself with lane 0, and returns when
/// every worker has finished. Nothing is reordered, because the owner only continues once all of the
/// batch is done.
///
/// Hand-off without a lock per packet: per worker one job descriptor (range, generation) published
/// with atomics, and one counter of workers still busy. A waiting thread spins for
/// ``spinMicroseconds`` and then sleeps on an eventfd in `poll` without a timeout — an idle worker
/// never wakes by itself (issue 8: idle is idle). The sleeper announces itself in an atomic flag and
/// checks for work once more before it sleeps; the waker publishes first and then looks at the flag
/// (both sequentially consistent), so at least one of them sees the other and no wake-up is lost.
final class CryptoLanes: @unchecked Sendable {
    /// Lanes one thread may use, itself included: `tunnel.crypto-threads`' upper bound.
    static let maximumLanes = 8
    /// How long a worker waiting for work, or an owner waiting for its workers, spins before it sleeps.
    static let spinMicroseconds: UInt64 = 50
    /// Below this many datagrams a batch is done by the owner alone: hand-off would cost more than it
    /// saves, and light traffic and ping latency must not get worse.
    static let minimumDatagramsToSplit = 8
    /// …or below this many octets of datagrams.
    static let minimumOctetsToSplit = 16 << 10
    /// Spin turns between two clock reads while spinning.
    private static let turnsPerClockRead = 64

    /// The owner and its workers.
    let laneCount: Int
    private let workers: [Worker]
    private var threads: [PlatformThread] = []
    private let work: @Sendable (_ lane: Int, _ jobs: Range<Int>) -> Void
    /// Workers that have not finished the current batch.
    private let remaining = Atomic<Int>(0)
    private let ownerSleeping = Atomic<Bool>(false)
    private let ownerWake: Notifier
    private let ownerPoller: Poller
    private let stopping = Atomic<Bool>(false)

    /// One worker's mailbox: written by the owner, read by the worker.
    private final class Worker: @unchecked Sendable {
        let generation = Atomic<UInt64>(0)
        let start = Atomic<Int>(0)
        let end = Atomic<Int>(0)
        let sleeping = Atomic<Bool>(false)
        let wake: Notifier
        let poller: Poller

        init() throws(SystemCallError) {
            wake = try Notifier()
            poller = Poller([wake.descriptor.rawValue])
        }
    }

    /// Starts `lanes − 1` worker threads named `name-c1`, `name-c2`, …; `work(lane, jobs)` is what each
    /// lane does with a range of the current batch's jobs (the owner's lane is 0).
    init(lanes: Int, name: String, work: @escaping @Sendable (_ lane: Int, _ jobs: Range<Int>) -> Void)
        throws(SystemCallError)
    {
        laneCount = min(max(lanes, 1), Self.maximumLanes)
        self.work = work
        ownerWake = try Notifier()
        ownerPoller = Poller([ownerWake.descriptor.rawValue])
        var workers: [Worker] = []
        for _ in 1..<max(laneCount, 1) { workers.append(try Worker()) }
        self.workers = workers
        do {
            for lane in 1..<max(laneCount, 1) {
                threads.append(try PlatformThread(name: "\(name)-c\(lane)") { [self] in workerLoop(lane: lane) })
            }
        } catch {
            stop()
            throw error
        }
    }

    /// Does jobs `0 ..< count` of the current batch, spread over the lanes when the batch is big enough
    /// (``minimumDatagramsToSplit``, ``minimumOctetsToSplit``), else all on lane 0. Returns whether it
    /// was split. Owner thread only; every job is done when it returns.
    @discardableResult
    func perform(count: Int, octets: Int) -> Bool {
        guard count > 0 else { return false }
        guard laneCount > 1, count >= Self.minimumDatagramsToSplit, octets >= Self.minimumOctetsToSplit else {
            work(0, 0..<count)
            return false
        }
        let share = (count + laneCount - 1) / laneCount
        let posted = (count - 1) / share  // workers with a non-empty range
        remaining.store(posted, ordering: .sequentiallyConsistent)
        for lane in 1...posted {
            let worker = workers[lane - 1]
            worker.start.store(lane * share, ordering: .relaxed)
            worker.end.store(min((lane + 1) * share, count), ordering: .relaxed)
            worker.generation.add(1, ordering: .sequentiallyConsistent)
            if worker.sleeping.load(ordering: .sequentiallyConsistent) { worker.wake.signal() }
        }
        work(0, 0..<share)
        waitForWorkers()
        return true
    }

    /// Stops and joins the workers. Idempotent; call when no ``perform(count:octets:)`` is running.
    func stop() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        for worker in workers {
            worker.generation.add(1, ordering: .sequentiallyConsistent)
            worker.wake.signal()
        }
        for thread in threads { thread.join() }
        threads = []
    }

    private func waitForWorkers() {
        let deadline = monotonicNanoseconds() &+ Self.spinMicroseconds * 1_000
        var turns = 0
        while remaining.load(ordering: .acquiring) != 0 {
            turns &+= 1
            if turns % Self.turnsPerClockRead != 0 || monotonicNanoseconds() < deadline { continue }
            ownerSleeping.store(true, ordering: .sequentiallyConsistent)
            if remaining.load(ordering: .sequentiallyConsistent) != 0 {
                // A failed poll only costs another turn of this loop.
                _ = try? ownerPoller.wait(timeoutMilliseconds: -1)
                ownerWake.drain()
            }
            ownerSleeping.store(false, ordering: .sequentiallyConsistent)
        }
    }

    private func workerLoop(lane: Int) {
        let worker = workers[lane - 1]
        var seen: UInt64 = 0
        while true {
            seen = waitForJob(worker, after: seen)
            if stopping.load(ordering: .acquiring) { return }
            work(lane, worker.start.load(ordering: .relaxed)..<worker.end.load(ordering: .relaxed))
            if remaining.subtract(1, ordering: .sequentiallyConsistent).newValue == 0,
                ownerSleeping.load(ordering: .sequentiallyConsistent)
            {
                ownerWake.signal()
            }
        }
    }

    /// Waits until the owner posts a generation after `seen`; returns it.
    private func waitForJob(_ worker: Worker, after seen: UInt64) -> UInt64 {
        let deadline = monotonicNanoseconds() &+ Self.spinMicroseconds * 1_000
        var turns = 0
        while true {
            let generation = worker.generation.load(ordering: .acquiring)
            if generation != seen { return generation }
            turns &+= 1
            if turns % Self.turnsPerClockRead != 0 || monotonicNanoseconds() < deadline { continue }
            worker.sleeping.store(true, ordering: .sequentiallyConsistent)
            if worker.generation.load(ordering: .sequentiallyConsistent) == seen {
                _ = try? worker.poller.wait(timeoutMilliseconds: -1)
                worker.wake.drain()
            }
            worker.sleeping.store(false, ordering: .sequentiallyConsistent)
        }
    }
}
