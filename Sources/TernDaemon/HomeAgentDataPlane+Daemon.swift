public import TernConfig
public import TernOS
public import TernProtocol
public import TernStore
public import TernTunnel

// The one file that knows TernTunnel's HomeAgentDataPlane and RouteNetlink: the rest of TernDaemon talks to
// them through ControllerDataPlane and HostRoutes.

extension HomeAgentDataPlane: ControllerDataPlane {
    public func install(_ installed: InstalledAssociation) throws {
        try add(
            .init(
                name: installed.name, association: installed.association, homeAddresses: installed.homeAddresses,
                sequenceReservation: installed.sequenceReservation, validity: installed.validity,
                receivedThrough: installed.receivedThrough,
                holdEndpointUntilBindingUpdate: installed.holdEndpointUntilBindingUpdate))
    }

    public func restore(_ bindings: [BindingRecord]) {
        restore(bindings.map { BindingChange(spi: $0.spi, entry: $0.entry, endpoint: $0.endpoint) })
    }

    public var bindingChangeNotifier: Notifier { bindingChanges.notifier }

    public func takeBindingChanges() -> [BindingRecord] {
        bindingChanges.take().map { BindingRecord(spi: $0.spi, entry: $0.entry, endpoint: $0.endpoint) }
    }
}

/// Host routes through rtnetlink into the TUN device `interfaceIndex`.
public struct TunnelHostRoutes: HostRoutes, @unchecked Sendable {
    public let netlink: RouteNetlink
    public let interfaceIndex: UInt32

    public init(netlink: RouteNetlink, interfaceIndex: UInt32) {
        self.netlink = netlink
        self.interfaceIndex = interfaceIndex
    }

    public func addHostRoute(to address: IPAddress) throws {
        guard let host = IPPrefix(address: address, length: address.bitWidth) else { return }
        try netlink.addRoute(host, interfaceIndex: interfaceIndex)
    }

    public func deleteHostRoute(to address: IPAddress) throws {
        guard let host = IPPrefix(address: address, length: address.bitWidth) else { return }
        do { try netlink.deleteRoute(host, interfaceIndex: interfaceIndex) } catch where error.isNotFound {}
    }
}

extension HomeAgentControllerStore: SequenceStateStore {
    /// The fallback store: every SA the state directory does not hold is one the HAC issued.
    public func covers(_ spi: UInt32) -> Bool { true }
}

extension HomeAgentDataPlane.MobileNode {
    /// A static Mobile Node resumed from what its state file held: past the previous reservation,
    /// refusing what may have been accepted, and — unless that run stopped cleanly — with its endpoint
    /// held until its own Binding Update.
    public init(_ node: MobileNodeEntry, previous: PersistedSequenceState) {
        self.init(
            name: node.name, association: node.securityAssociation, homeAddresses: node.homeAddresses,
            sequenceReservation: previous.resumedReservation, receivedThrough: previous.receivedHighest,
            holdEndpointUntilBindingUpdate: !previous.cleanStop)
    }
}

extension HomeAgentDataPlane: StaticMobileNodes {
    public func addStatic(_ node: MobileNodeEntry, previous: PersistedSequenceState) throws {
        try add(.init(node, previous: previous))
    }
}

extension StateDirectoryStore: StaticSequenceStateStore {}

extension MobileNodeController: ReconfigurableMobileNode {}
