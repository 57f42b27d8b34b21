public import Synchronization
public import TernDataChannel
public import TernProtocol

/// The Mobile Node's SAs at one moment: the one it sends under, and the inbound halves it opens with,
/// newest first (two during a make-before-break switch). Immutable; replaced whole.
package final class AssociationSet: @unchecked Sendable {
    /// Used only by the sending half.
    package let outbound: OutboundSecurityAssociation
    package let scope: SecurityAssociationScope
    /// Used only by the receiving half.
    package let inbound: [InboundSecurityAssociation]
    /// How far ``outbound`` may go: persisted ahead for a static SA whose state persists (docs/tunnel.md,
    /// Restarts), unlimited for an SA from the HAC (never restored: the MN bootstraps a new one).
    package let reservation: SendReservation

    package init(
        outbound: OutboundSecurityAssociation, scope: SecurityAssociationScope, inbound: [InboundSecurityAssociation],
        reservation: SendReservation = SendReservation(grantedThrough: nil)
    ) {
        self.outbound = outbound
        self.scope = scope
        self.inbound = inbound
        self.reservation = reservation
    }

    /// Sending half only: whether the next outbound number is within the reservation (asking for more
    /// in `requests` when half of it is used).
    @inline(__always)
    package func mayUseNextSequenceNumber(requesting requests: inout SequenceReservationRequests) -> Bool {
        reservation.mayUse(after: outbound.sequenceNumber.lastSent, spi: outbound.securityParameterIndex, requesting: &requests)
    }

    /// The inbound SA for the datagram's SPI; the newest when it names neither (it will then fail to
    /// open, and be counted, as any datagram under an unknown SPI).
    @inline(__always)
    package func inbound(for buffer: UnsafeRawBufferPointer, datagram: Range<Int>) -> InboundSecurityAssociation {
        guard inbound.count > 1, datagram.count >= 4 else { return inbound[0] }
        let spi = buffer.loadBigEndianUInt32(at: datagram.lowerBound) & SecurityParameterIndex.maximum
        for candidate in inbound where candidate.securityParameterIndex.rawValue == spi { return candidate }
        return inbound[0]
    }
}

/// Where the Mobile Node's current ``AssociationSet`` lives: replaced rarely (the control plane installs
/// an SA), read once per batch by each half of ``MobileNodeCore`` (an atomic version check).
package final class AssociationSource: @unchecked Sendable {
    private let set: Mutex<AssociationSet>
    private let version = Atomic<UInt64>(1)
    /// The highest HA→MN number accepted (for the state thread, when the SA's state persists).
    package let receivedHighWater: Atomic<UInt32>

    package init(_ set: AssociationSet, receivedThrough: UInt32 = 0) {
        self.set = Mutex(set)
        receivedHighWater = Atomic(receivedThrough)
    }

    package func current() -> (AssociationSet, UInt64) {
        set.withLock { ($0, version.load(ordering: .acquiring)) }
    }

    @inline(__always)
    package func changed(since seen: UInt64) -> Bool { version.load(ordering: .acquiring) != seen }

    /// Replaces the set with `change(current)`.
    package func update(_ change: (AssociationSet) -> AssociationSet) {
        set.withLock { $0 = change($0) }
        version.add(1, ordering: .releasing)
    }
}

/// A half's copy of the current ``AssociationSet``, refreshed when its version moves (once a batch).
package struct AssociationView {
    package private(set) var set: AssociationSet
    private var version: UInt64

    package init(_ source: AssociationSource) {
        (set, version) = source.current()
    }

    @inline(__always)
    package mutating func refresh(_ source: AssociationSource) {
        guard source.changed(since: version) else { return }
        (set, version) = source.current()
    }
}
