public import Synchronization
public import TernDataChannel
public import TernProtocol

/// The Mobile Node's SAs at one moment: the one it sends under, and the inbound halves it opens with,
/// newest first (two during a make-before-break switch). Immutable; replaced whole.
public final class AssociationSet: @unchecked Sendable {
    /// Used only by the sending half.
    public let outbound: OutboundSecurityAssociation
    public let scope: SecurityAssociationScope
    /// Used only by the receiving half.
    public let inbound: [InboundSecurityAssociation]
    /// How far ``outbound`` may go: persisted ahead for a static SA whose state persists (docs/tunnel.md,
    /// Restarts), unlimited for an SA from the HAC (never restored: the MN bootstraps a new one).
    public let reservation: SendReservation

    public init(
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
    public func mayUseNextSequenceNumber(requesting requests: inout SequenceReservationRequests) -> Bool {
        reservation.mayUse(after: outbound.sequenceNumber.lastSent, spi: outbound.securityParameterIndex, requesting: &requests)
    }

    /// The inbound SA for the datagram's SPI; the newest when it names neither (it will then fail to
    /// open, and be counted, as any datagram under an unknown SPI).
    @inline(__always)
    public func inbound(for buffer: UnsafeRawBufferPointer, datagram: Range<Int>) -> InboundSecurityAssociation {
        guard inbound.count > 1, datagram.count >= 4 else { return inbound[0] }
        let spi = buffer.loadBigEndianUInt32(at: datagram.lowerBound) & SecurityParameterIndex.maximum
        for candidate in inbound where candidate.securityParameterIndex.rawValue == spi { return candidate }
        return inbound[0]
    }
}

/// Where the Mobile Node's current ``AssociationSet`` lives: replaced rarely (the control plane installs
/// an SA), read once per batch by each half of ``MobileNodeCore`` (an atomic version check).
public final class AssociationSource: @unchecked Sendable {
    private let set: Mutex<AssociationSet>
    private let version = Atomic<UInt64>(1)
    /// The highest HA→MN number accepted (for the state thread, when the SA's state persists).
    public let receivedHighWater: Atomic<UInt32>

    public init(_ set: AssociationSet, receivedThrough: UInt32 = 0) {
        self.set = Mutex(set)
        receivedHighWater = Atomic(receivedThrough)
    }

    public func current() -> (AssociationSet, UInt64) {
        set.withLock { ($0, version.load(ordering: .acquiring)) }
    }

    @inline(__always)
    public func changed(since seen: UInt64) -> Bool { version.load(ordering: .acquiring) != seen }

    /// Replaces the set with `change(current)`.
    public func update(_ change: (AssociationSet) -> AssociationSet) {
        set.withLock { $0 = change($0) }
        version.add(1, ordering: .releasing)
    }
}

/// A half's copy of the current ``AssociationSet``, refreshed when its version moves (once a batch).
public struct AssociationView {
    public private(set) var set: AssociationSet
    private var version: UInt64

    public init(_ source: AssociationSource) {
        (set, version) = source.current()
    }

    @inline(__always)
    public mutating func refresh(_ source: AssociationSource) {
        guard source.changed(since: version) else { return }
        (set, version) = source.current()
    }
}
