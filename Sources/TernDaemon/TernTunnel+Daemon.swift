import Foundation
public import TernConfig
public import TernController
public import TernOS
public import TernProtocol
public import TernStore
public import TernTunnel

// The one file that knows TernTunnel's data planes and their values (and RouteNetlink): the rest of
// TernDaemon talks to them through its own protocols (ControllerDataPlane, HostRoutes, StaticMobileNodes,
// ReconfigurableMobileNode) and values, so a change in the data planes is a change here only.

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

extension MobileNodeController: ReconfigurableMobileNode {
    public func reconfigure(keepaliveIntervalSeconds: Int, requestedLifetimeSeconds: UInt32) {
        reconfigure(
            .init(keepaliveIntervalSeconds: keepaliveIntervalSeconds, requestedLifetimeSeconds: requestedLifetimeSeconds))
    }
}

// Status reports from the data planes' values: StatusReport itself knows nothing of TernTunnel.

extension StatusReport {
    public init(
        role: String, counters: TunnelCounters, bindings: [Binding], registration: Registration? = nil,
        controller: ControllerStatistics? = nil
    ) {
        self.controller = controller
        self.role = role
        packetsSent = counters.packetsSent
        octetsSent = counters.octetsSent
        packetsReceived = counters.packetsReceived
        octetsReceived = counters.octetsReceived
        keepalivesSent = counters.keepalivesSent
        keepalivesReceived = counters.keepalivesReceived
        mobilityHeadersSent = counters.mobilityHeadersSent
        mobilityHeadersReceived = counters.mobilityHeadersReceived
        bindingMoves = counters.bindingMoves
        superPacketsRead = counters.superPacketsRead
        superPacketsWritten = counters.superPacketsWritten
        cryptoBatchesSplit = counters.cryptoBatchesSplit
        drops = counters.dropsByLabel
        self.bindings = bindings
        self.registration = registration
    }
}

extension StatusReport.Registration {
    public init(_ registration: MobileNodeRegistration) {
        state = registration.state
        careOfAddress = registration.careOfAddress?.description
        homeAgent = registration.homeAgent?.description
        grantedLifetimeSeconds = registration.grantedLifetimeSeconds
        natKeepaliveSeconds = registration.natKeepaliveSeconds
        ipv4HomeAddress = registration.ipv4HomeAddress?.description
        handovers = registration.handovers.map { StatusReport.Handover($0) }
    }
}

extension StatusReport.Handover {
    public init(_ record: HandoverRecord) {
        trigger = record.trigger.rawValue
        from = record.from?.description
        to = record.to?.description
        homeAgent = record.homeAgent?.description
        detectedAt = record.detectedAt
        bindingUpdateSentAfterMilliseconds = record.bindingUpdateSentAfterMilliseconds
        acknowledgedAfterMilliseconds = record.acknowledgedAfterMilliseconds
        firstDataAfterMilliseconds = record.firstDataAfterMilliseconds
    }
}

extension StatusReport.Binding {
    public init(_ binding: HomeAgentBinding, now: UInt64) {
        mobileNode = binding.mobileNode
        spi = binding.securityParameterIndex.rawValue
        endpoint = binding.endpoint?.description
        let entry = binding.entry.flatMap { $0.expiresAt > now ? $0 : nil }
        registered = entry != nil
        careOfAddress = entry?.careOfAddress?.description
        behindNAT = entry?.behindNAT
        lifetimeSeconds = entry?.lifetimeSeconds
        expiresInSeconds = entry.map { Double($0.expiresAt - now) / 1e9 }
        ipv4HomeAddress = entry?.ipv4HomeAddress?.description
        sequenceNumber = entry?.sequenceNumber
    }
}

extension HandoverSummary {
    public init(_ record: HandoverRecord) {
        func ms(_ value: Double?) -> String { value.map { String(format: "%.1f ms", $0) } ?? "—" }
        text = "\(record.trigger.rawValue) \(record.from?.description ?? "none") → \(record.to?.description ?? "none")"
            + ": binding update after \(ms(record.bindingUpdateSentAfterMilliseconds)), acknowledged after "
            + "\(ms(record.acknowledgedAfterMilliseconds)), first data after \(ms(record.firstDataAfterMilliseconds))"
    }
}
