import Synchronization
public import TernOS
public import TernProtocol
import TernRoles

/// What persists of one SA's sequence numbers across restarts (docs/tunnel.md, "Restarts").
public struct PersistedSequenceState: Sendable, Hashable {
    /// The highest outbound number the previous run may have used (its persisted reservation); 0: none.
    public var sentReserved: UInt32
    /// The highest inbound number persisted as accepted: it and everything below are refused after a
    /// restart.
    public var receivedHighest: UInt32
    /// The previous run stopped cleanly: ``receivedHighest`` is exact. Otherwise up to one persist period
    /// of accepted numbers above it went unrecorded.
    public var cleanStop: Bool

    public init(sentReserved: UInt32 = 0, receivedHighest: UInt32 = 0, cleanStop: Bool = false) {
        self.sentReserved = sentReserved
        self.receivedHighest = receivedHighest
        self.cleanStop = cleanStop
    }

    /// Where a restored SA's sender resumes and what it may use before the next write: one step past
    /// the previous reservation, persisted (by the caller) before any of it is used.
    public var resumedReservation: (resumeAfter: UInt32, grantedThrough: UInt32) {
        (sentReserved, SendReservation.nextLimit(after: sentReserved))
    }
}

/// Where SAs' sequence state lives: the HAC's database for the SAs it issued, the state directory for
/// static SAs (`state-directory`). The state thread is the only caller; every write is durable when it
/// returns.
public protocol SequenceStateStore: AnyObject, Sendable {
    /// Whether this store keeps the SA `spi`.
    func covers(_ spi: UInt32) -> Bool
    /// Records that the sender may use numbers up to `limit` (never lowers a reservation).
    func reserveSequenceNumbers(spi: UInt32, through limit: UInt32) throws
    /// Records the highest accepted inbound numbers (never lowers one).
    func saveReceivedHighWater(_ marks: [(spi: UInt32, highest: UInt32)]) throws
    /// Records how this run ends: `clean` only after every mark was saved at a stop; false at a start.
    func recordStop(clean: Bool) throws
}

/// A data plane whose SAs' sequence state persists: it asks for reservations, and publishes what it
/// accepted.
public protocol SequenceStateSource: AnyObject, Sendable {
    /// Requests for more outbound numbers, posted by the sending thread.
    var reservationRequests: Mailbox<(spi: SecurityParameterIndex, lastSent: UInt32)> { get }
    /// Rung by the receiving thread when an SA's highest accepted number moved since the last persist.
    var highWaterBell: ChangeBell { get }
    func grantSequenceNumbers(_ spi: SecurityParameterIndex, through limit: UInt32)
    /// Each SA's highest accepted inbound number, as published by the receiving thread.
    func receivedHighWaters() -> [(spi: UInt32, highest: UInt32)]
}

/// A doorbell rung at most once until re-armed: the ringer pays one relaxed load while it is rung, and
/// the listener sleeps on the descriptor (no periodic wake-up while nothing changes). The listener
/// silences it when woken and re-arms it only when it acts, so rings in between wake nobody.
public final class ChangeBell: Sendable {
    private let rung = Atomic<Bool>(false)
    public let notifier: Notifier

    public init() throws(SystemCallError) { notifier = try Notifier() }

    @inline(__always)
    public func ring() {
        if !rung.load(ordering: .relaxed), !rung.exchange(true, ordering: .acquiringAndReleasing) { notifier.signal() }
    }

    /// Stops the descriptor from waking the listener; the bell stays rung (further rings are free).
    public func silence() { notifier.drain() }

    /// A ring after this call wakes the listener again.
    public func rearm() { rung.store(false, ordering: .releasing) }
}

/// The state thread's bookkeeping for sequence state: persists reservations before granting them, and
/// each SA's receive high-water mark at most ``highWaterPeriod`` after it moved, and all of them at a
/// clean stop. Takes the time as a value; the stores do the I/O.
public struct SequenceStatePersistence {
    /// The longest time an accepted inbound number stays unpersisted while the daemon runs (the gap an
    /// unclean stop leaves, docs/tunnel.md): 0.5 s, well under the 1 s the design allows, and one
    /// small write per period at most.
    public static let highWaterPeriod: UInt64 = 500_000_000

    let source: any SequenceStateSource
    let stores: [any SequenceStateStore]
    private var persisted: [UInt32: UInt32] = [:]
    /// When the next high-water write may happen (monotonic ns); nil: no change waits.
    private var pendingSince: UInt64?
    private var lastWrite: UInt64 = 0

    public init(source: any SequenceStateSource, stores: [any SequenceStateStore]) {
        self.source = source
        self.stores = stores
    }

    private func store(for spi: UInt32) -> (any SequenceStateStore)? { stores.first { $0.covers(spi) } }

    /// Persists and grants what the sending threads asked for; returns the failures, for the log.
    public func serviceReservations() -> [String] {
        var failures: [String] = []
        for request in source.reservationRequests.take() {
            let limit = SendReservation.nextLimit(after: request.lastSent)
            guard let store = store(for: request.spi.rawValue) else { continue }
            do {
                try store.reserveSequenceNumbers(spi: request.spi.rawValue, through: limit)
                source.grantSequenceNumbers(request.spi, through: limit)
            } catch {
                failures.append("cannot persist the sequence reservation of SPI \(request.spi.rawValue): \(error)")
            }
        }
        return failures
    }

    /// Notes a ring of the high-water bell at `now`.
    public mutating func highWaterMoved(at now: UInt64) {
        source.highWaterBell.silence()
        if pendingSince == nil { pendingSince = now }
    }

    /// Milliseconds until the next high-water write is due; nil: none waits.
    public func pollTimeout(at now: UInt64) -> Int32? {
        guard pendingSince != nil else { return nil }
        let due = lastWrite &+ Self.highWaterPeriod
        return due <= now ? 0 : Int32(clamping: (due - now + 999_999) / 1_000_000)
    }

    /// Writes the marks that moved, when due at `now` (or at once with `force`); returns the failures.
    public mutating func persistHighWater(at now: UInt64, force: Bool = false) -> [String] {
        guard force || (pendingSince != nil && now >= lastWrite &+ Self.highWaterPeriod) else { return [] }
        pendingSince = nil
        lastWrite = now
        // Re-armed before the marks are read: a move after this read rings again.
        source.highWaterBell.rearm()
        let changed = source.receivedHighWaters().filter { persisted[$0.spi] != $0.highest }
        var failures: [String] = []
        for store in stores {
            let marks = changed.filter { store.covers($0.spi) }
            guard !marks.isEmpty else { continue }
            do {
                try store.saveReceivedHighWater(marks)
                for mark in marks { persisted[mark.spi] = mark.highest }
            } catch {
                failures.append("cannot persist the receive high-water marks: \(error)")
                pendingSince = now
            }
        }
        return failures
    }

    /// At a clean stop, after the data plane's threads have stopped: every mark, then the marker.
    public mutating func stop(at now: UInt64) -> [String] {
        var failures = persistHighWater(at: now, force: true)
        guard failures.isEmpty else { return failures }
        for store in stores {
            do { try store.recordStop(clean: true) } catch { failures.append("cannot record the clean stop: \(error)") }
        }
        return failures
    }
}
