public import TernDataChannel
public import TernOS
public import TernProtocol
public import TernRoles

/// What the co-located controller needs of the Home Agent's data plane: installing and removing SAs,
/// putting bindings back after a restart, and the binding changes to persist. The one conformance
/// (TernTunnel's `HomeAgentDataPlane`) is in `TernTunnel+Daemon.swift`; tests use a fake.
/// Thread safety: every member may be called from any thread.
public protocol ControllerDataPlane: AnyObject, Sendable {
    /// Installs an SA the controller issued (or restored). Throws when the SPI is in use or the SA unusable.
    func install(_ association: InstalledAssociation) throws
    /// Removes the SA `spi`; false when there was none.
    @discardableResult func remove(_ spi: SecurityParameterIndex) -> Bool
    /// Removes every SA of the Mobile Node `name`; the SPIs removed and the Home Addresses they served.
    func removeAll(of name: String) -> (spis: [SecurityParameterIndex], homeAddresses: [IPAddress])
    /// Puts back bindings a previous run accepted (times on this process's monotonic clock).
    func restore(_ bindings: [BindingRecord])
    /// Signalled when ``takeBindingChanges()`` has something.
    var bindingChangeNotifier: Notifier { get }
    /// The binding changes since the last call, oldest first.
    func takeBindingChanges() -> [BindingRecord]
    /// The earliest validity end (seconds since 1970) of the SAs it holds, if any has one.
    var nextValidityEnd: Double? { get }
    /// Removes every SA past its validity end at `now` (seconds since 1970); returns their SPIs.
    func removeExpired(at now: Double) -> [SecurityParameterIndex]
    /// The SPIs held for the Mobile Node `name` (two during an SA switch).
    func securityParameterIndexes(of name: String) -> [SecurityParameterIndex]
}

/// Host routes into the TUN device for Mobile Nodes' Home Addresses (TernOS `RouteNetlink` on the
/// daemon's TUN index; a fake in tests).
public protocol HostRoutes: Sendable {
    func addHostRoute(to address: IPAddress) throws
    /// Deletes the route; a route that was not there is not an error.
    func deleteHostRoute(to address: IPAddress) throws
}

/// An SA as the controller hands it to the data plane.
public struct InstalledAssociation: Sendable {
    public var name: String
    public var association: SecurityAssociation
    public var homeAddresses: [IPAddress]
    /// The last HA→MN number a previous run may have used, and how far the sender may go (persisted).
    public var sequenceReservation: (resumeAfter: UInt32, grantedThrough: UInt32)
    /// Seconds since 1970.
    public var validity: (issuedAt: Double, end: Double)
    /// The highest MN→HA number persisted as accepted: it and everything below are refused.
    public var receivedThrough: UInt32
    /// No datagram moves the endpoint until the MN's own Binding Update (after an unclean stop).
    public var holdEndpointUntilBindingUpdate: Bool

    public init(
        name: String, association: SecurityAssociation, homeAddresses: [IPAddress],
        sequenceReservation: (resumeAfter: UInt32, grantedThrough: UInt32), validity: (issuedAt: Double, end: Double),
        receivedThrough: UInt32, holdEndpointUntilBindingUpdate: Bool
    ) {
        self.name = name
        self.association = association
        self.homeAddresses = homeAddresses
        self.sequenceReservation = sequenceReservation
        self.validity = validity
        self.receivedThrough = receivedThrough
        self.holdEndpointUntilBindingUpdate = holdEndpointUntilBindingUpdate
    }
}

/// A binding as it changed in the data plane, or as it is put back: the Binding Cache entry (nil: gone)
/// and where the HA sends. The core's own type, so nothing is converted on the way to the database.
public typealias BindingRecord = HomeAgentBindingChange
