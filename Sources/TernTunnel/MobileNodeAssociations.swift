public import TernDataChannel
public import TernProtocol
public import TernRoles
import Synchronization

/// The SAs the Mobile Node's data plane uses, as the control plane and the state thread change them.
extension MobileNodeEngine {
    /// Makes `association` the SA packets are sent under from the next batch on; the one it replaces
    /// still opens what the HA sends under it (packets in flight, or until the HA switches) until
    /// ``dropPreviousSecurityAssociation()``.
    public func install(_ association: SecurityAssociation) throws(DataPlaneError) {
        do {
            let (outbound, inbound) = try association.makeEndpoints(for: .mobileNode, lanes: cryptoThreads)
            associations.update { set in
                AssociationSet(outbound: outbound, scope: association.scope, inbound: [inbound, set.inbound[0]])
            }
        } catch {
            throw .securityAssociation(error)
        }
        controlWake.signal()
    }

    /// Forgets the SA the last ``install(_:)`` replaced.
    public func dropPreviousSecurityAssociation() {
        associations.update { set in
            AssociationSet(outbound: set.outbound, scope: set.scope, inbound: [set.inbound[0]], reservation: set.reservation)
        }
    }

    /// The SPI packets are sent under.
    public var currentSecurityParameterIndex: SecurityParameterIndex {
        associations.current().0.outbound.securityParameterIndex
    }

    /// Lets the SA `spi` send up to `limit` (persisted by the caller first).
    public func grantSequenceNumbers(_ spi: SecurityParameterIndex, through limit: UInt32) {
        let set = associations.current().0
        if set.outbound.securityParameterIndex == spi { set.reservation.grant(through: limit) }
    }

    /// The highest HA→MN number accepted under the static SA, when its state persists.
    public func receivedHighWaters() -> [(spi: UInt32, highest: UInt32)] {
        guard persistsSequenceState else { return [] }
        return [(currentSecurityParameterIndex.rawValue, associations.receivedHighWater.load(ordering: .relaxed))]
    }
}

extension AssociationSet {
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
}
