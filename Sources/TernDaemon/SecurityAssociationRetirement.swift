public import TernOS
public import TernProtocol
public import TernStore
import Synchronization

// Job 3 of the controller's state: SA retirement. A replaced SA stays in the data plane for a grace period
// so that packets already in flight under it still arrive (make before break); then it leaves.

/// When SAs leave the data plane: a pure value (times are monotonic nanoseconds passed in).
public struct RetirementSchedule: Sendable, Hashable {
    public struct Entry: Sendable, Hashable {
        public var spi: SecurityParameterIndex
        public var mobileNode: String
        /// Monotonic nanoseconds.
        public var due: UInt64

        public init(spi: SecurityParameterIndex, mobileNode: String, due: UInt64) {
            self.spi = spi
            self.mobileNode = mobileNode
            self.due = due
        }
    }

    /// The longest delay a retirement may be given (longer ones are clamped: a bad stored time must not
    /// overflow the clock).
    public static let maximumDelaySeconds = Double(UInt32.max)

    public private(set) var entries: [Entry] = []

    public init() {}

    /// Retires `spi` of `mobileNode` `seconds` after `now` (at `now` for 0 or less, or not a number).
    public mutating func add(_ spi: SecurityParameterIndex, of mobileNode: String, after seconds: Double, now: UInt64) {
        let delay = seconds > 0 ? UInt64(min(seconds, Self.maximumDelaySeconds) * 1e9) : 0
        entries.append(Entry(spi: spi, mobileNode: mobileNode, due: now &+ delay))
    }

    /// When the earliest entry is due, if there is one.
    public var nextDue: UInt64? { entries.map(\.due).min() }

    /// Removes and returns the entries due at `now`, earliest first.
    public mutating func takeDue(at now: UInt64) -> [Entry] {
        let due = entries.filter { $0.due <= now }.sorted { $0.due < $1.due }
        entries.removeAll { $0.due <= now }
        return due
    }
}

/// The decisions about which SAs retire when.
public enum SecurityAssociationRetirement {
    /// How long a replaced SA stays in the data plane.
    public static let graceSeconds: Double = 60

    /// The SAs a newly committed SA `spi` of a Mobile Node replaces: every other one it holds.
    public static func replaced(
        by spi: UInt32, holding: [SecurityParameterIndex]
    ) -> [SecurityParameterIndex] {
        holding.filter { $0.rawValue != spi }
    }

    /// After a restart, the switches that were in progress: each live SA not yet retired whose Mobile Node
    /// has a retired one, with the seconds left of the newest retirement's grace period (negative: overdue).
    public static func switchesInProgress(
        _ live: [IssuedSecurityAssociation], now: Double, grace: Double = graceSeconds
    ) -> [(successor: IssuedSecurityAssociation, remainingSeconds: Double)] {
        live.filter { $0.retiredAt == nil }.compactMap { issued in
            let retired = live.filter { $0.identity == issued.identity }.compactMap(\.retiredAt)
            guard let newest = retired.max() else { return nil }
            return (issued, newest + grace - now)
        }
    }
}

/// The retirement schedule shared between the threads that add to it (the controller's) and the state
/// thread that acts on it, which sleeps until the earliest entry is due: nothing else keeps a timer, so an
/// HA with nothing due has no periodic wake-up (docs/tunnel.md, idle is idle).
public final class RetirementQueue: Sendable {
    private let schedule = Mutex(RetirementSchedule())
    /// Signalled when an entry is added, so that the state thread re-computes its timeout.
    public let notifier: Notifier

    public init() throws(SystemCallError) {
        notifier = try Notifier()
    }

    /// Retires `spi` of `mobileNode` `seconds` after `now` (monotonic nanoseconds).
    public func add(_ spi: SecurityParameterIndex, of mobileNode: String, after seconds: Double, now: UInt64) {
        schedule.withLock { $0.add(spi, of: mobileNode, after: seconds, now: now) }
        notifier.signal()
    }

    public var nextDue: UInt64? { schedule.withLock { $0.nextDue } }

    public func takeDue(at now: UInt64) -> [RetirementSchedule.Entry] {
        notifier.drain()
        return schedule.withLock { $0.takeDue(at: now) }
    }
}
