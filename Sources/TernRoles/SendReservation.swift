import Synchronization
public import TernProtocol

/// How far a sender may go in an SA's sequence space before a reservation persisted beyond it (DESIGN.md:
/// an SA restored after a restart never reuses a sequence number). The sending side asks for the next
/// step (a ``SequenceReservationRequests`` entry the engine hands to whoever persists) when half of what
/// is left is used; the state thread persists it and grants it. One type for every SA that persists:
/// the HA's HAC-issued and static SAs, the MN's static SA.
///
/// Thread safety: ``mayUse(after:spi:requesting:)`` and ``requestNotDelivered()`` are the sending
/// side's; ``grant(through:)`` any thread's (an atomic max).
public final class SendReservation: @unchecked Sendable {
    /// Sequence numbers reserved at a time: 2^20, as DESIGN.md suggests — a write every million packets,
    /// and a restart skips at most that many.
    public static let step: UInt32 = 1 << 20

    /// The highest sequence number the sender may use; `.max` when nothing is persisted.
    private let grantedThrough: Atomic<UInt32>
    /// Sending side only: the grant in force when more was asked for (nil: nothing asked); a grant
    /// that differs from it answered the request.
    private var requestedWhileGranted: UInt32?
    private let limited: Bool

    /// - Parameter grantedThrough: what is persisted already; nil: no persistence, no limit.
    public init(grantedThrough: UInt32?) {
        self.grantedThrough = Atomic(grantedThrough ?? .max)
        limited = grantedThrough != nil
    }

    /// Sending side only: whether the number after `lastSent` is within the grant; adds one request
    /// for more to `requests` when at most half a step is left.
    @inline(__always)
    public func mayUse(
        after lastSent: UInt32, spi: SecurityParameterIndex, requesting requests: inout SequenceReservationRequests
    ) -> Bool {
        guard limited else { return true }
        let granted = grantedThrough.load(ordering: .acquiring)
        if let pending = requestedWhileGranted, pending != granted { requestedWhileGranted = nil }
        if requestedWhileGranted == nil, granted &- lastSent <= Self.step / 2 {
            requests.pending.append(SequenceReservationRequest(spi: spi, lastSent: lastSent, reservation: self))
            requestedWhileGranted = granted
        }
        return lastSent < granted
    }

    /// Sending side only: the request could not be handed on (its mailbox was full); the next packet
    /// asks again.
    public func requestNotDelivered() { requestedWhileGranted = nil }

    /// Raises the grant (never lowers it).
    public func grant(through limit: UInt32) {
        _ = grantedThrough.max(limit, ordering: .releasing)
    }

    /// The highest sequence number the sender may use now (`.max` when nothing is persisted).
    public var granted: UInt32 { grantedThrough.load(ordering: .acquiring) }

    /// The limit to persist and grant for an SA whose sender has used up to `lastSent`: one step past it.
    public static func nextLimit(after lastSent: UInt32) -> UInt32 {
        let (sum, overflow) = lastSent.addingReportingOverflow(step)
        return overflow ? .max : sum
    }
}

/// One "sequence reservation needed" event: the SA `spi` has sent through `lastSent` and needs a grant
/// past it.
public struct SequenceReservationRequest {
    public var spi: SecurityParameterIndex
    public var lastSent: UInt32
    /// Told when the request could not be handed on, so it is asked again.
    public let reservation: SendReservation
}

/// The reservation requests a sending batch raised, for the engine to hand to whoever persists; at most
/// one per SA per grant, so the array stays tiny (its capacity is kept between batches).
public struct SequenceReservationRequests {
    public var pending: [SequenceReservationRequest] = []

    public init() { pending.reserveCapacity(4) }

    /// Hands each request to `deliver` (false: not delivered, asked again later) and forgets them.
    public mutating func drain(_ deliver: (SequenceReservationRequest) -> Bool) {
        guard !pending.isEmpty else { return }
        for request in pending where !deliver(request) { request.reservation.requestNotDelivered() }
        pending.removeAll(keepingCapacity: true)
    }
}
