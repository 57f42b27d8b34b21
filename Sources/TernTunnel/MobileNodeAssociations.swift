public import TernDataChannel
public import TernProtocol
public import TernRoles
import Synchronization

/// The SAs the Mobile Node's data plane uses, as the control plane and the state thread change them.
extension MobileNodeDataPlane {
    /// Makes `association` the SA packets are sent under from the next batch on; the one it replaces
    /// still opens what the HA sends under it (packets in flight, or until the HA switches) until
    /// ``dropPreviousSecurityAssociation()``.
    public func install(_ association: SecurityAssociation) throws(DataPlaneError) {
        do {
            let (outbound, inbound) = try association.makeEndpoints(for: .mobileNode, lanes: cryptoThreads)
            associations.withLock { set in
                set = AssociationSet(outbound: outbound, scope: association.scope, inbound: [inbound, set.inbound[0]])
            }
        } catch {
            throw .securityAssociation(error)
        }
        associationVersion.add(1, ordering: .releasing)
        controlWake.signal()
    }

    func associationsSnapshot() -> (AssociationSet, UInt64) {
        associations.withLock { ($0, associationVersion.load(ordering: .acquiring)) }
    }

    @inline(__always)
    func associationsChanged(since version: UInt64) -> Bool {
        associationVersion.load(ordering: .acquiring) != version
    }

    /// Forgets the SA the last ``install(_:)`` replaced.
    public func dropPreviousSecurityAssociation() {
        associations.withLock { set in
            set = AssociationSet(
                outbound: set.outbound, scope: set.scope, inbound: [set.inbound[0]], reservation: set.reservation)
        }
        associationVersion.add(1, ordering: .releasing)
    }

    /// The SPI packets are sent under.
    public var currentSecurityParameterIndex: SecurityParameterIndex {
        associations.withLock { $0.outbound.securityParameterIndex }
    }

    /// Lets the SA `spi` send up to `limit` (persisted by the caller first).
    public func grantSequenceNumbers(_ spi: SecurityParameterIndex, through limit: UInt32) {
        let set = associations.withLock { $0 }
        if set.outbound.securityParameterIndex == spi { set.reservation.grant(through: limit) }
    }

    /// The highest HA→MN number accepted under the static SA, when its state persists.
    public func receivedHighWaters() -> [(spi: UInt32, highest: UInt32)] {
        guard persistsSequenceState else { return [] }
        return [(currentSecurityParameterIndex.rawValue, receivedHighWater.load(ordering: .relaxed))]
    }
}

/// The Mobile Node's SAs at one moment: the one it sends under, and the inbound halves it opens with,
/// newest first (two during a make-before-break switch). Immutable; replaced whole.
final class AssociationSet: @unchecked Sendable {
    /// Used only by the transmitting thread.
    let outbound: OutboundSecurityAssociation
    let scope: SecurityAssociationScope
    /// Used only by the receiving thread.
    let inbound: [InboundSecurityAssociation]
    /// How far ``outbound`` may go: persisted ahead for a static SA whose state persists (docs/tunnel.md,
    /// Restarts), unlimited for an SA from the HAC (never restored: the MN bootstraps a new one).
    let reservation: SendReservation

    init(
        outbound: OutboundSecurityAssociation, scope: SecurityAssociationScope, inbound: [InboundSecurityAssociation],
        reservation: SendReservation = SendReservation(grantedThrough: nil)
    ) {
        self.outbound = outbound
        self.scope = scope
        self.inbound = inbound
        self.reservation = reservation
    }

    /// - Parameter restored: what a previous run persisted of this SA (nil: a new SA, no persistence).
    convenience init(
        current association: SecurityAssociation, previous: InboundSecurityAssociation?, lanes: Int,
        restored: PersistedSequenceState? = nil
    ) throws(SecurityAssociationError) {
        let resumed = restored?.resumedReservation
        let (outbound, inbound) = try association.makeEndpoints(
            for: .mobileNode, lastSentSequenceNumber: resumed?.resumeAfter ?? 0,
            receivedThrough: restored?.receivedHighest ?? 0, lanes: lanes)
        self.init(
            outbound: outbound, scope: association.scope, inbound: [inbound] + (previous.map { [$0] } ?? []),
            reservation: SendReservation(grantedThrough: resumed?.grantedThrough))
    }

    /// Transmitting thread only: whether the next outbound number is within the reservation (asking
    /// for more through `requests` when half of it is used).
    @inline(__always)
    func mayUseNextSequenceNumber(requesting requests: inout SequenceReservationRequests) -> Bool {
        reservation.mayUse(after: outbound.sequenceNumber.lastSent, spi: outbound.securityParameterIndex, requesting: &requests)
    }

    /// The inbound SA for the datagram's SPI; the newest when it names neither (it will then fail to
    /// open, and be counted, as any datagram under an unknown SPI).
    @inline(__always)
    func inbound(for buffer: UnsafeRawBufferPointer, datagram: Range<Int>) -> InboundSecurityAssociation {
        guard inbound.count > 1, datagram.count >= 4 else { return inbound[0] }
        let spi = buffer.loadBigEndianUInt32(at: datagram.lowerBound) & SecurityParameterIndex.maximum
        for candidate in inbound where candidate.securityParameterIndex.rawValue == spi { return candidate }
        return inbound[0]
    }
}

/// A thread's copy of the current ``AssociationSet``, refreshed when its version moves (once a batch).
struct AssociationView {
    private(set) var set: AssociationSet
    private var version: UInt64

    init(_ plane: MobileNodeDataPlane) {
        (set, version) = plane.associationsSnapshot()
    }

    @inline(__always)
    mutating func refresh(_ plane: MobileNodeDataPlane) {
        guard plane.associationsChanged(since: version) else { return }
        (set, version) = plane.associationsSnapshot()
    }
}
