import Foundation
public import Logging
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

    public var bindingChangeNotifier: Notifier { bindingChanges.notifier }

    public func takeBindingChanges() -> [BindingRecord] {
        bindingChanges.take()
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

// The data planes' events in the daemons' log (rare events only; never per packet).

/// Logs a data-plane event; a thread failure also signals `failure`, which stops the daemon.
public func log(_ event: TunnelEvent, _ logger: Logger, failure: Notifier? = nil) {
    switch event {
    case .bindingMoved(let node, let from, let to):
        logger.info("binding of \(node) moved: \(from?.description ?? "none") -> \(to)")
    case .threadFailed(let thread, let error):
        logger.critical("data-plane thread \(thread) stopped: \(error)")
        failure?.signal()
    case .bindingUpdate(let node, let outcome):
        logger.debug("binding update from \(node): \(outcome)")
    case .bindingExpired(let node):
        logger.info("binding of \(node) expired")
    }
}

/// Logs a control-plane event of the Mobile Node.
public func log(_ event: MobileNodeEvent, _ logger: Logger) {
    switch event {
    case .pathChanged(let trigger, let description):
        logger.info("path to the home agent (\(trigger.rawValue)): \(description)")
    case .registered(let lifetime, let natKeepalive, let ipv4HomeAddress):
        var text = "registered: lifetime \(lifetime) s"
        if let natKeepalive { text += ", behind NAT (keepalive \(natKeepalive) s)" }
        if let ipv4HomeAddress { text += ", IPv4 home address \(ipv4HomeAddress)" }
        logger.info("\(text)")
    case .rejected(let status):
        logger.error("the home agent refused the binding update: status \(status)")
    case .reinitializeSecurityAssociation:
        logger.warning("the home agent asks for a new security association (REINIT_SA_WITH_HAC, 176)")
    case .registrationExpired:
        logger.warning("the binding's lifetime ran out before a refresh was accepted; registering again")
    case .deregistered:
        logger.info("deregistered from the home agent")
    case .handover(let record):
        logger.info("handover: \(HandoverSummary(record).text)")
    case .rekeyed(let spi):
        logger.info("re-keyed: sending under SPI \(spi) from now on (the previous SA is kept 60 s for packets in flight)")
    case .homeAgentUnresponsive(let unanswered):
        logger.warning(
            "the home agent answered none of \(unanswered) binding updates: it no longer knows this SA or binding; registering again (and, with a HAC, bootstrapping a new SA)"
        )
    case .ignoredSignalling(let octets):
        logger.debug("ignored a \(octets)-octet mobility header that is not a BA or BE")
    case .failed(let reason):
        logger.error("\(reason)")
    }
}
