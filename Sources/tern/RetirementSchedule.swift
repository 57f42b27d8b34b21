import Synchronization
import TernOS
import TernProtocol

/// SAs to take out of the HA's data plane at a given time: a replaced SA stays for a grace period so
/// that packets already in flight under it still arrive (make before break). The HA's state thread
/// (``ControllerStateKeeper``) sleeps until the earliest one is due; nothing else keeps a timer, so
/// an HA with nothing due has no periodic wake-up (DESIGN.md: idle is idle).
final class RetirementSchedule: Sendable {
    struct Entry: Sendable {
        var spi: SecurityParameterIndex
        var mobileNode: String
        /// Monotonic nanoseconds.
        var due: UInt64
    }

    private let entries = Mutex<[Entry]>([])
    /// Signalled when an entry is added, so that the state thread re-computes its timeout.
    let notifier: Notifier

    init() throws {
        notifier = try Notifier()
    }

    /// Retires `spi` of `mobileNode` `seconds` from now (at once for 0 or less).
    func add(_ spi: SecurityParameterIndex, of mobileNode: String, after seconds: Double) {
        let delay = seconds > 0 ? UInt64(min(seconds, Double(UInt32.max)) * 1e9) : 0
        let entry = Entry(spi: spi, mobileNode: mobileNode, due: monotonicNanoseconds() &+ delay)
        entries.withLock { $0.append(entry) }
        notifier.signal()
    }

    /// When the earliest entry is due (monotonic nanoseconds), if there is one.
    var nextDue: UInt64? { entries.withLock { $0.map(\.due).min() } }

    /// Removes and returns the entries due at `now`.
    func takeDue(at now: UInt64) -> [Entry] {
        notifier.drain()
        return entries.withLock { entries in
            let due = entries.filter { $0.due <= now }
            entries.removeAll { $0.due <= now }
            return due
        }
    }
}
