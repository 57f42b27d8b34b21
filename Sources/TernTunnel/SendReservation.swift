import Synchronization
import TernProtocol

/// How far a sender may go in an SA's sequence space before a reservation persisted beyond it (DESIGN.md:
/// an SA restored after a restart never reuses a sequence number). The sending thread asks for the next
/// step through a mailbox when half of what is left is used; the state thread persists it and grants it.
/// One type for every SA that persists: the HA's HAC-issued and static SAs, the MN's static SA.
///
/// Thread safety: ``mayUse(after:spi:requesting:)`` is the sending thread's; ``grant(through:)`` any
/// thread's (an atomic max).
final class SendReservation: @unchecked Sendable {
    /// Sequence numbers reserved at a time: 2^20, as DESIGN.md suggests — a write every million packets,
    /// and a restart skips at most that many.
    static let step: UInt32 = 1 << 20

    /// The highest sequence number the sender may use; `.max` when nothing is persisted.
    private let grantedThrough: Atomic<UInt32>
    /// Sending thread only: the grant in force when more was asked for (nil: nothing asked); a grant
    /// that differs from it answered the request.
    private var requestedWhileGranted: UInt32?
    private let limited: Bool

    /// - Parameter grantedThrough: what is persisted already; nil: no persistence, no limit.
    init(grantedThrough: UInt32?) {
        self.grantedThrough = Atomic(grantedThrough ?? .max)
        limited = grantedThrough != nil
    }

    /// Sending thread only: whether the number after `lastSent` is within the grant; posts one request
    /// for more when at most half a step is left.
    @inline(__always)
    func mayUse(
        after lastSent: UInt32, spi: SecurityParameterIndex,
        requesting requests: Mailbox<(spi: SecurityParameterIndex, lastSent: UInt32)>
    ) -> Bool {
        guard limited else { return true }
        let granted = grantedThrough.load(ordering: .acquiring)
        if let pending = requestedWhileGranted, pending != granted { requestedWhileGranted = nil }
        if requestedWhileGranted == nil, granted &- lastSent <= Self.step / 2, requests.post((spi, lastSent)) {
            requestedWhileGranted = granted
        }
        return lastSent < granted
    }

    /// Raises the grant (never lowers it).
    func grant(through limit: UInt32) {
        _ = grantedThrough.max(limit, ordering: .releasing)
    }

    /// The limit to persist and grant for an SA whose sender has used up to `lastSent`: one step past it.
    static func nextLimit(after lastSent: UInt32) -> UInt32 {
        let (sum, overflow) = lastSent.addingReportingOverflow(step)
        return overflow ? .max : sum
    }
}
