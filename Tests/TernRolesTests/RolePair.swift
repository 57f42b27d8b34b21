import TernDataChannel
import TernProtocol
@testable import TernRoles
import TernTestSupport

/// A datagram on the in-memory wire between the cores.
struct WireDatagram: Equatable {
    var octets: [UInt8]
    var source: SocketAddress
    var destination: SocketAddress
}

/// One Mobile Node under test: its core halves, where it sends from, and what it recorded.
struct MobileNodeUnderTest {
    let name: String
    let homeAddress: IPAddress
    var core: MobileNodeCore
    var transmitter: MobileNodeCore.Transmitter
    /// Its outer address:port as the HA sees it (after any NAT).
    var address: SocketAddress
    var counters = TunnelCounters()
    var actions = MobileNodeActions()
    var bindingUpdateSequence: UInt16 = 100
}

/// wireguard-go's `genTestPair` for Tern: a whole ``HomeAgentCore`` and one or more ``MobileNodeCore``s
/// joined in memory, with real TernDataChannel SAs, no descriptors and no privileges. Each step moves
/// one datagram through the cores exactly as the engines do (a caller-owned slot, opened and sealed in
/// place); time is a value the test advances.
final class RolePair {
    static let slotLength = DataChannel.maximumHeadroom + 1500 + 1 + DataChannel.maximumTailroom
    static let payloadOffset = DataChannel.maximumHeadroom
    static let homeAgentAddress = SocketAddress(.v4(IPv4Address(rawValue: 0xC000_0201)), port: 7872)  // 192.0.2.1
    static let homeAgentLocal = LocalAddress(address: .v4(IPv4Address(rawValue: 0xC000_0201)), interfaceIndex: 2)
    static let correspondent: IPAddress = .v4(IPv4Address(rawValue: 0xCB00_7109))  // 203.0.113.9

    var homeAgent: HomeAgentCore
    var homeAgentTransmitter: HomeAgentCore.Transmitter
    var homeAgentCounters = TunnelCounters()
    var homeAgentActions = HomeAgentActions()
    /// Everything the HA's core asked to record, in order.
    var homeAgentEvents: [TunnelEvent] = []
    var bindingChanges: [HomeAgentBindingChange] = []
    var mobileNodes: [MobileNodeUnderTest] = []
    /// Monotonic nanoseconds and wall-clock seconds, advanced by the test.
    var now: UInt64 = 5_000_000_000
    var wallClock: Double = 1_800_000_000
    /// The caller-owned slot every step works in (an engine's batch slot).
    let slot: UnsafeMutableRawBufferPointer

    struct Node {
        var name: String
        var spi: UInt32
        var homeAddress: IPAddress
        var address: SocketAddress
        var sequenceReservation: (resumeAfter: UInt32, grantedThrough: UInt32)? = nil
        var validity: (issuedAt: Double, end: Double)? = nil
        var holdEndpointUntilBindingUpdate = false
    }

    /// The nodes and their SAs, for ``restartHomeAgent(_:)``.
    let nodes: [Node]
    let associations: [SecurityAssociation]
    let policy: BindingCache.Policy

    /// - Parameter nodes: the Mobile Nodes, each with its own SA of `suite` (keys from the SPI).
    init(
        suite: Ciphersuite = .default, scope: SecurityAssociationScope = .allTraffic, nodes: [Node] = [RolePair.firstNode],
        policy: BindingCache.Policy = BindingCache.Policy(maximumLifetimeSeconds: 60)
    ) throws {
        slot = .allocate(byteCount: Self.slotLength, alignment: 64)
        self.nodes = nodes
        self.policy = policy
        associations = try nodes.map { try Self.association(spi: $0.spi, suite: suite, scope: scope) }
        var sessions: [MobileNodeSession] = []
        var mobileNodes: [MobileNodeUnderTest] = []
        for (node, association) in zip(nodes, associations) {
            sessions.append(
                try MobileNodeSession(
                    name: node.name, association: association, homeAddresses: [node.homeAddress],
                    sequenceReservation: node.sequenceReservation, validity: node.validity,
                    holdEndpoint: node.holdEndpointUntilBindingUpdate))
            let (outbound, inbound) = try association.makeEndpoints(for: .mobileNode)
            let source = AssociationSource(AssociationSet(outbound: outbound, scope: scope, inbound: [inbound]))
            let core = MobileNodeCore(
                associations: source, homeAgents: [Self.homeAgentAddress], homeAddresses: [node.homeAddress],
                persistsSequenceState: true)
            mobileNodes.append(
                MobileNodeUnderTest(
                    name: node.name, homeAddress: node.homeAddress, core: core,
                    transmitter: core.makeTransmitter(keepaliveIntervalSeconds: 25, now: now), address: node.address))
        }
        homeAgent = HomeAgentCore(tables: SessionTableSource(SessionTable(sessions)), policy: policy)
        homeAgentTransmitter = homeAgent.makeTransmitter()
        self.mobileNodes = mobileNodes
        for index in mobileNodes.indices { self.mobileNodes[index].transmitter.beginBatch(homeAgent: Self.homeAgentAddress) }
    }

    deinit { slot.deallocate() }

    /// What the state thread persisted of one SA before a stop (docs/tunnel.md, Restarts).
    struct Persisted {
        var sentReserved: UInt32
        var receivedHighest: UInt32
        var cleanStop: Bool
    }

    /// What a state thread would persist now for node `index`: the HA's grant and its high-water mark.
    func persisted(_ index: Int, cleanStop: Bool) -> Persisted {
        let session = homeAgent.view.table.sessions[index]
        return Persisted(
            sentReserved: session.reservation.granted, receivedHighest: session.receivedHighWater.load(ordering: .relaxed),
            cleanStop: cleanStop)
    }

    /// The HA process stops and starts again from `persisted` (one per node): new sessions resume past
    /// the reservation and refuse what was accepted before; the Mobile Nodes keep running.
    func restartHomeAgent(_ persisted: [Persisted]) throws {
        var sessions: [MobileNodeSession] = []
        for ((node, association), state) in zip(zip(nodes, associations), persisted) {
            sessions.append(
                try MobileNodeSession(
                    name: node.name, association: association, homeAddresses: [node.homeAddress],
                    sequenceReservation: (state.sentReserved, SendReservation.nextLimit(after: state.sentReserved)),
                    receivedThrough: state.receivedHighest, holdEndpoint: !state.cleanStop))
        }
        homeAgent = HomeAgentCore(tables: SessionTableSource(SessionTable(sessions)), policy: policy)
        homeAgentTransmitter = homeAgent.makeTransmitter()
        homeAgentActions.removeAll()
        homeAgentCounters = TunnelCounters()
    }

    static let firstNode = Node(
        name: "laptop", spi: 0x1234, homeAddress: .v4(IPv4Address(rawValue: 0x0A4D_0002)),  // 10.77.0.2
        address: SocketAddress(.v4(IPv4Address(rawValue: 0xC633_6407)), port: 40_000))  // 198.51.100.7
    static let secondNode = Node(
        name: "phone", spi: 0x5678, homeAddress: .v4(IPv4Address(rawValue: 0x0A4D_0003)),  // 10.77.0.3
        address: SocketAddress(.v4(IPv4Address(rawValue: 0xC633_6408)), port: 40_001))  // 198.51.100.8

    /// An SA with keys derived from the SPI (distinct per node and per direction).
    static func association(spi: UInt32, suite: Ciphersuite, scope: SecurityAssociationScope) throws -> SecurityAssociation {
        func keys(_ seed: UInt8) throws -> DirectionalKeys {
            try DirectionalKeys(
                suite: suite,
                encryptionKey: (0..<suite.encryptionKeyLength).map { UInt8(truncatingIfNeeded: Int(seed) &+ $0 &* 7 &+ Int(spi)) },
                integrityKey: (0..<suite.integrityKeyLength).map { UInt8(truncatingIfNeeded: Int(seed) &+ $0 &* 13 &+ Int(spi)) })
        }
        guard let index = SecurityParameterIndex(rawValue: spi) else { throw RolePairError.badSPI }
        return SecurityAssociation(
            securityParameterIndex: index, suite: suite, scope: scope, mobileNodeToHomeAgent: try keys(1),
            homeAgentToMobileNode: try keys(2))
    }

    /// A minimal IPv4 packet (RFC 791 header, UDP protocol number, `length` octets in all).
    static func ipv4Packet(from source: IPAddress, to destination: IPAddress, length: Int = 60, fill: UInt8 = 0xA5) -> [UInt8] {
        ipv4TestPacket(from: source, to: destination, length: length, fill: fill)
    }

    // MARK: Mobile Node → Home Agent

    /// MN `index` reads `inner` from its TUN device; returns the datagram it sends, or nil if its core
    /// refused (counted).
    func mobileNodeSends(_ index: Int, inner: [UInt8]) throws -> WireDatagram? {
        let payload = copyIntoSlot(inner)
        let slot = self.slot
        guard let (route, destination) = withNode(index, { node in
            node.transmitter.route(UnsafeRawBufferPointer(slot), payload: payload, counters: &node.counters)
        })
        else { return nil }
        let sealed: Range<Int>
        if route.scope == .signalingOnly {
            sealed = try DataChannel.encapsulatePlaintext(in: slot, payload: payload)
        } else {
            let nextHeader = destination.isIPv4 ? NextHeader.ipv4 : NextHeader.ipv6
            sealed = try route.outbound.seal(.userData, nextHeader: nextHeader, in: slot, payload: payload).range
        }
        mobileNodes[index].transmitter.sent(at: now)
        return WireDatagram(octets: Array(slot[sealed]), source: mobileNodes[index].address, destination: route.homeAgent)
    }

    /// MN `index` sends a Binding Update (A and H set, lifetime `lifetimeUnits`) naming `careOf` (nil:
    /// none, as behind a NAT); returns the datagram.
    func bindingUpdate(_ index: Int, careOf: IPv4Address?, lifetimeUnits: UInt16 = 15) throws -> WireDatagram? {
        mobileNodes[index].bindingUpdateSequence &+= 1
        var options: [MobilityOption] = []
        if let careOf { options.append(.ipv4CareOfAddress(careOf)) }
        let update = BindingUpdate(
            sequenceNumber: mobileNodes[index].bindingUpdateSequence, flags: [.acknowledge, .homeRegistration],
            lifetimeUnits: lifetimeUnits, options: options)
        return try mobileNodeSignals(index, MobilityHeaderCodec.encode(.bindingUpdate(update)))
    }

    /// MN `index` seals `octets` as PType 8.
    func mobileNodeSignals(_ index: Int, _ octets: [UInt8]) throws -> WireDatagram? {
        guard let route = withNode(index, { $0.transmitter.signallingRoute(counters: &$0.counters) }) else { return nil }
        let payload = copyIntoSlot(octets)
        let sealed = try route.outbound.seal(.mobilityHeader, nextHeader: NextHeader.mobility, in: slot, payload: payload)
        mobileNodes[index].transmitter.sent(at: now)
        return WireDatagram(octets: Array(slot[sealed.range]), source: mobileNodes[index].address, destination: route.homeAgent)
    }

    /// MN `index`'s keepalive, if its core says one is due at ``now``.
    func keepaliveIfDue(_ index: Int) throws -> WireDatagram? {
        guard mobileNodes[index].transmitter.keepaliveDue(at: now),
            let route = withNode(index, { $0.transmitter.signallingRoute(counters: &$0.counters) })
        else { return nil }
        let sealed = try route.outbound.sealKeepalive(in: slot, at: Self.payloadOffset - route.outbound.suite.headroom)
        mobileNodes[index].counters.keepalivesSent &+= 1
        return WireDatagram(octets: Array(slot[sealed.range]), source: mobileNodes[index].address, destination: route.homeAgent)
    }

    /// The HA receives `datagram` (as one batch of one); returns the inner packet its core wrote to the
    /// TUN device, if any, and the Mobility Headers it sent back (sealed, on the wire).
    @discardableResult
    func homeAgentReceives(_ datagram: WireDatagram) throws -> (inner: [UInt8]?, replies: [WireDatagram]) {
        homeAgent.beginBatch(now: now, wallClock: wallClock)
        let range = copyDatagramIntoSlot(datagram.octets)
        let received = ReceivedDatagram(buffer: slot, range: range, source: datagram.source, local: Self.homeAgentLocal)
        var inner: [UInt8]?
        if case .writeToTun(let payload) = homeAgent.receive(received, counters: &homeAgentCounters, actions: &homeAgentActions) {
            inner = Array(slot[payload])
        }
        return (inner, try flushHomeAgentActions())
    }

    /// What the HA's core asked for: recorded, and its replies sealed by the sending half.
    func flushHomeAgentActions() throws -> [WireDatagram] {
        homeAgentEvents += homeAgentActions.events
        bindingChanges += homeAgentActions.bindingChanges
        var replies: [WireDatagram] = []
        for reply in homeAgentActions.replies {
            guard homeAgentTransmitter.maySignal(reply.session, counters: &homeAgentCounters) else { continue }
            let payload = copyIntoSlot(reply.octets)
            let sealed = try reply.session.outbound.seal(
                .mobilityHeader, nextHeader: NextHeader.mobility, in: slot, payload: payload)
            replies.append(WireDatagram(octets: Array(slot[sealed.range]), source: Self.homeAgentAddress, destination: reply.endpoint.remote))
        }
        homeAgentActions.removeAll()
        return replies
    }

    // MARK: Home Agent → Mobile Node

    /// The HA reads `inner` from its TUN device; returns the datagram it sends, or nil if its core
    /// refused (counted).
    func homeAgentSends(inner: [UInt8]) throws -> WireDatagram? {
        homeAgentTransmitter.beginBatch()
        let payload = copyIntoSlot(inner)
        guard let route = homeAgentTransmitter.route(
            UnsafeRawBufferPointer(slot), payload: payload, now: now, counters: &homeAgentCounters)
        else { return nil }
        let sealed: SealedDatagram?
        let range: Range<Int>
        if route.session.scope == .signalingOnly {
            range = try DataChannel.encapsulatePlaintext(in: slot, payload: payload)
            sealed = nil
        } else {
            let nextHeader = route.destination.isIPv4 ? NextHeader.ipv4 : NextHeader.ipv6
            sealed = try route.session.outbound.seal(.userData, nextHeader: nextHeader, in: slot, payload: payload)
            range = sealed?.range ?? 0..<0
        }
        homeAgentTransmitter.sealed(route, pastSoftLimit: sealed?.isPastSoftLimit ?? false)
        return WireDatagram(octets: Array(slot[range]), source: Self.homeAgentAddress, destination: route.endpoint.remote)
    }

    /// MN `index` receives `datagram`; returns the inner packet its core wrote to the TUN device.
    @discardableResult
    func mobileNodeReceives(_ index: Int, _ datagram: WireDatagram) -> [UInt8]? {
        mobileNodes[index].core.beginBatch()
        let range = copyDatagramIntoSlot(datagram.octets)
        let received = ReceivedDatagram(buffer: slot, range: range, source: datagram.source, local: .unspecified)
        let verdict = withNode(index) { $0.core.receive(received, counters: &$0.counters, actions: &$0.actions) }
        if case .writeToTun(let payload) = verdict { return Array(slot[payload]) }
        return nil
    }

    /// The Mobility Messages MN `index`'s core handed to its control plane since the last call.
    func mobilityMessages(_ index: Int) throws -> [MobilityMessage] {
        let messages = try mobileNodes[index].actions.mobilityHeaders.map { try MobilityHeaderCodec.decode($0) }
        mobileNodes[index].actions.removeAll()
        return messages
    }

    /// Registers MN `index` from its current address: BU, BA back; returns the BA.
    @discardableResult
    func register(_ index: Int, careOf: IPv4Address? = nil) throws -> BindingAcknowledgement? {
        let named: IPv4Address?
        if let careOf { named = careOf } else if case .v4(let own) = mobileNodes[index].address.address { named = own } else { named = nil }
        guard let update = try bindingUpdate(index, careOf: named) else { return nil }
        for reply in try homeAgentReceives(update).replies { mobileNodeReceives(index, reply) }
        for case .bindingAcknowledgement(let acknowledgement) in try mobilityMessages(index) { return acknowledgement }
        return nil
    }

    /// Where the HA sends MN `index`'s packets now.
    func endpoint(_ index: Int) -> Endpoint? {
        homeAgent.view.table.sessions[index].currentEndpoint()
    }

    /// Lends MN `index` to `body` as one exclusive access (its core and its counters change together).
    private func withNode<T>(_ index: Int, _ body: (inout MobileNodeUnderTest) throws -> T) rethrows -> T {
        try body(&mobileNodes[index])
    }

    // MARK: Slots

    /// Copies an inner packet or Mobility Header behind the headroom, as a TUN read would.
    private func copyIntoSlot(_ octets: [UInt8]) -> Range<Int> {
        let payload = Self.payloadOffset..<(Self.payloadOffset + octets.count)
        octets.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: slot[payload]).copyMemory(from: $0) }
        return payload
    }

    /// Copies a datagram to the start of the slot, as a socket read would.
    private func copyDatagramIntoSlot(_ octets: [UInt8]) -> Range<Int> {
        let count = min(octets.count, slot.count)
        octets.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: slot[0..<count]).copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
        return 0..<count
    }
}

enum RolePairError: Error { case badSPI }

extension TunnelCounters {
    func dropped(_ reason: TunnelDropReason) -> UInt64 { tunnelDrops[Int(reason.rawValue)] }
    func dropped(_ reason: DataChannelDropReason) -> UInt64 { dataChannelDrops[reason] }
}
