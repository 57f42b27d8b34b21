public import Logging
import TernDataChannel
import TernOS
public import TernProtocol
public import TernStore

/// Puts the SAs the co-located controller issues into the Home Agent's data plane, with host routes for
/// their Home Addresses, and takes replaced ones out on schedule; after a restart, puts back what the
/// database holds. Thread safety: called from the controller's thread and, at start, the main thread.
public struct ControllerInstaller: Sendable {
    public let plane: any ControllerDataPlane
    public let routes: any HostRoutes
    public let reservations: SequenceReservations
    public let retirements: RetirementQueue
    /// Whether the previous run stopped cleanly (its receive high-water marks are exact): if not, a
    /// restored SA holds its endpoint until the MN's own Binding Update (docs/tunnel.md, Restarts).
    public let previousStopWasClean: Bool
    public let logger: Logger

    public init(
        plane: any ControllerDataPlane, routes: any HostRoutes, reservations: SequenceReservations,
        retirements: RetirementQueue, previousStopWasClean: Bool, logger: Logger
    ) {
        self.plane = plane
        self.routes = routes
        self.reservations = reservations
        self.retirements = retirements
        self.previousStopWasClean = previousStopWasClean
        self.logger = logger
    }

    /// Installs `issued` for `addresses`: the reservation is persisted first, then the routes, then the SA.
    /// `restored`: put back from the database after a restart (else issued just now). Failures are logged:
    /// the MN's exchange has succeeded already and it will re-key.
    /// - Returns: whether the SA is in the data plane.
    @discardableResult
    public func install(_ issued: IssuedSecurityAssociation, homeAddresses addresses: [IPAddress], restored: Bool) -> Bool {
        do {
            let association = try SecurityAssociation(issued)
            let reservation = try reservations.resume(
                spi: issued.securityParameterIndex, previouslyReserved: issued.sequenceReservation)
            for address in addresses { try routes.addHostRoute(to: address) }
            try plane.install(
                InstalledAssociation(
                    name: issued.identity, association: association, homeAddresses: addresses,
                    sequenceReservation: reservation, validity: (issued.issuedAt, issued.validityEnd),
                    receivedThrough: issued.receivedHighest,
                    holdEndpointUntilBindingUpdate: restored && !previousStopWasClean))
            return true
        } catch {
            logger.error("cannot install SA \(issued.securityParameterIndex) of \(issued.identity): \(error)")
            return false
        }
    }

    /// Schedules the SAs `issued` replaces to leave the data plane `seconds` after `now` (monotonic ns).
    public func retireReplaced(by issued: IssuedSecurityAssociation, after seconds: Double, now: UInt64) {
        let holding = plane.securityParameterIndexes(of: issued.identity)
        for old in SecurityAssociationRetirement.replaced(by: issued.securityParameterIndex, holding: holding) {
            retirements.add(old, of: issued.identity, after: seconds, now: now)
        }
    }

    /// An exchange that did not complete: its SA leaves the data plane at once.
    public func abandon(_ issued: IssuedSecurityAssociation) {
        if let spi = SecurityParameterIndex(rawValue: issued.securityParameterIndex) { plane.remove(spi) }
    }

    /// A restarted HA keeps serving its MNs without new handshakes (DESIGN.md: where state lives): their live
    /// SAs, the switches in progress on their schedule, and their bindings, so that even an idle MN is
    /// reachable at once. Returns how many SAs and bindings were put back.
    public func restore(
        from store: HomeAgentControllerStore, bindings: BindingPersistence, clock: ClockPair
    ) throws -> (associations: Int, bindings: Int) {
        let live = try store.liveSecurityAssociations(
            at: clock.wallNow, grace: SecurityAssociationRetirement.graceSeconds)
        for issued in live {
            install(issued, homeAddresses: try store.homeAddresses(of: issued.identity), restored: true)
            logger.info("restored SA \(issued.securityParameterIndex) of \(issued.identity)")
        }
        for (successor, remaining) in SecurityAssociationRetirement.switchesInProgress(live, now: clock.wallNow) {
            retireReplaced(by: successor, after: remaining, now: clock.monotonicNow)
        }
        let restored = try bindings.restorable(clock: clock)
        plane.restore(restored)
        if !restored.isEmpty { logger.info("restored \(restored.count) binding(s)") }
        return (live.count, restored.count)
    }

    /// Cuts the Mobile Node `identity` off the running HA at once (`tern users remove` and `disable` ask
    /// through the control socket): its SAs leave the data plane, with them its bindings, and its host
    /// routes go. Returns the control socket's reply line.
    public static func revoke(
        _ identity: String, plane: any ControllerDataPlane, routes: any HostRoutes, logger: Logger
    ) -> String {
        let removed = plane.removeAll(of: identity)
        for address in removed.homeAddresses {
            do { try routes.deleteHostRoute(to: address) } catch {
                logger.warning("revoke \(identity): cannot delete the route to \(address): \(error)")
            }
        }
        let spis = removed.spis.map { "\($0.rawValue)" }.joined(separator: ", ")
        let text = removed.spis.isEmpty
            ? "revoked \(identity): it held no SA on this home agent"
            : "revoked \(identity): SA(s) \(spis), their bindings and \(removed.homeAddresses.count) host route(s) removed"
        logger.warning("\(text)")
        return text
    }
}
