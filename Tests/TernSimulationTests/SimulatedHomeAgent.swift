import TernDataChannel
import TernProtocol
import TernRoles
import TernTunnel

/// A Home Agent in the simulation: the real ``HomeAgentCore`` and its ``HomeAgentCore/Transmitter``
/// (TernRoles) over the real SA halves, driven one datagram at a time as `HomeAgentDataPlane` drives them
/// per batch. What persists across a crash is what the daemon persists (tern/ControllerWiring.swift):
/// each SA's send reservation (``PersistedSequenceState/resumedReservation``, written before use) and
/// receive high-water mark (every ``SequenceStatePersistence/highWaterPeriod``, exactly at a clean stop),
/// whether the last run stopped cleanly, and each accepted binding with its endpoint.
final class SimulatedHomeAgent {
    /// What the HA's store holds for one SA (the HAC's database in the real deployment).
    struct Persisted {
        var mobileNode: Int
        var association: SecurityAssociation
        var homeAddress: IPv4Address
        var sequence = PersistedSequenceState()
        var binding: HomeAgentBindingChange?
    }

    static let port: UInt16 = 7872
    static let policy = BindingCache.Policy(maximumLifetimeSeconds: 120)

    let index: Int
    let addressV4: SimAddress
    let addressV6: SimAddress
    private(set) var store: [Persisted] = []
    private(set) var running = false
    private(set) var incarnation = 0
    private var core: HomeAgentCore
    private var transmitter: HomeAgentCore.Transmitter
    private var actions = HomeAgentActions()
    private(set) var counters = TunnelCounters()
    /// The inbound SA of every session, so the oracle can tell which datagrams the core authenticated.
    private var slot = [UInt8](repeating: 0, count: 2048)

    init(index: Int) {
        self.index = index
        addressV4 = SimAddress(ip: .v4(IPv4Address(203, 0, 113, UInt8(1 + index))), port: Self.port)
        addressV6 = SimAddress(ip: .v6(IPv6Address(high: 0x2001_0db8_0000_0000, low: UInt64(1 + index))), port: Self.port)
        core = HomeAgentCore(tables: SessionTableSource(SessionTable([])), policy: Self.policy)
        transmitter = core.makeTransmitter()
    }

    var sessions: [MobileNodeSession] { core.view.table.sessions }
    var cache: BindingCache { core.cache }

    func session(for spi: SecurityParameterIndex) -> MobileNodeSession? { core.view.table.bySPI[spi.rawValue] }

    func mobileNode(of session: MobileNodeSession) -> Int? {
        store.first { $0.association.securityParameterIndex == session.securityParameterIndex }?.mobileNode
    }

    /// The HAC provisioned an SA for `mobileNode` (before the first start).
    func install(mobileNode: Int, association: SecurityAssociation, homeAddress: IPv4Address) {
        store.append(Persisted(mobileNode: mobileNode, association: association, homeAddress: homeAddress))
    }

    // MARK: Start, crash, restart

    /// Starts (again) from the store: each sender resumes past its reservation and the next one is
    /// persisted before use; each receiver refuses what it persisted as accepted; after an unclean stop
    /// the restored endpoints are held until the MN's own Binding Update; bindings are put back.
    func start(at now: VirtualTime) throws {
        guard !running else { return }
        let restored = incarnation > 0
        var sessions: [MobileNodeSession] = []
        for index in store.indices {
            let previous = store[index].sequence
            let (resume, granted) = previous.resumedReservation
            store[index].sequence.sentReserved = granted
            sessions.append(
                try MobileNodeSession(
                    name: "mn\(store[index].mobileNode)", association: store[index].association,
                    homeAddresses: [.v4(store[index].homeAddress)], sequenceReservation: (resume, granted),
                    receivedThrough: previous.receivedHighest, holdEndpoint: restored && !previous.cleanStop))
        }
        for index in store.indices { store[index].sequence.cleanStop = false }
        core = HomeAgentCore(tables: SessionTableSource(SessionTable(sessions)), policy: Self.policy)
        transmitter = core.makeTransmitter()
        running = true
        incarnation += 1
        actions.removeAll()
        core.restore(store.compactMap(\.binding), at: now, actions: &actions)
        actions.removeAll()
    }

    func crash(clean: Bool) {
        guard running else { return }
        if clean { persistHighWater() }
        for index in store.indices { store[index].sequence.cleanStop = clean }
        running = false
    }

    /// The state thread's periodic write of each SA's highest accepted inbound number.
    func persistHighWater() {
        guard running else { return }
        for index in store.indices {
            guard let session = session(for: store[index].association.securityParameterIndex) else { continue }
            let highest = session.receivedHighWater.load(ordering: .relaxed)
            store[index].sequence.receivedHighest = max(store[index].sequence.receivedHighest, highest)
        }
    }

    // MARK: Receiving (UDP → TUN)

    func receive(_ datagram: Datagram, in world: Simulation) {
        guard running, datagram.bytes.count <= slot.count else { return }
        core.beginBatch(now: world.now, wallClock: Double(world.now) / 1e9)
        let dropsBefore = Self.authenticationDrops(counters)
        let count = datagram.bytes.count
        slot.replaceSubrange(0..<count, with: datagram.bytes)
        let source = SocketAddress(datagram.from.ip, port: datagram.from.port)
        let verdict = slot.withUnsafeMutableBytes { buffer in
            core.receive(
                ReceivedDatagram(
                    buffer: buffer, range: 0..<count, source: source, local: LocalAddress(address: datagram.to.ip)),
                counters: &counters, actions: &actions)
        }
        let header = DataChannelHeader.read(datagram.bytes)
        // The core authenticated the datagram unless the data channel (or PType 0's lookup) dropped it.
        if Self.authenticationDrops(counters) == dropsBefore, let header,
            let spi = SecurityParameterIndex(rawValue: header.securityParameterIndexValue)
        {
            world.homeAgentAccepted(self, spi: spi, header.sequenceNumber, datagram)
        }
        if case .writeToTun(let payload) = verdict, let session = header.flatMap({ core.view.table.bySPI[$0.securityParameterIndexValue] }) {
            world.deliveredToInternet(Array(slot[payload]), by: self, session: session)
        }
        for event in actions.events {
            guard case .bindingMoved(let name, _, let endpoint) = event,
                let session = sessions.first(where: { $0.name == name }), let header
            else { continue }
            world.homeAgentMoved(
                self, session: session, to: SimAddress(ip: endpoint.remote.address, port: endpoint.remote.port),
                by: datagram, sequenceNumber: header.sequenceNumber)
        }
        for change in actions.bindingChanges {
            guard let index = store.firstIndex(where: { $0.association.securityParameterIndex == change.spi }) else { continue }
            store[index].binding = change.entry == nil ? nil : change
        }
        let replies = actions.replies
        actions.removeAll()
        for reply in replies { sendMobilityHeader(reply, in: world) }
    }

    /// Drops that mean the datagram was not authenticated (anything the data channel refused, or PType 0
    /// from no binding's address).
    private static func authenticationDrops(_ counters: TunnelCounters) -> UInt64 {
        DataChannelDropReason.allCases.reduce(counters.tunnelDrops[Int(TunnelDropReason.unknownPlaintextSource.rawValue)]) {
            $0 &+ counters.dataChannelDrops[$1]
        }
    }

    /// Expired bindings leave the cache (the receiving thread's timer in the daemon).
    func expireBindings(at now: VirtualTime) {
        guard running else { return }
        core.expire(at: now, actions: &actions)
        for change in actions.bindingChanges {
            guard let index = store.firstIndex(where: { $0.association.securityParameterIndex == change.spi }) else { continue }
            store[index].binding = nil
        }
        actions.removeAll()
    }

    // MARK: Sending (TUN → UDP)

    /// A packet from the Internet, routed by the transmitter (Home Address, live binding, reservation).
    func forward(_ packet: [UInt8], in world: Simulation) {
        guard running else { return }
        transmitter.beginBatch()
        let route = packet.withUnsafeBytes { buffer in
            transmitter.route(buffer, payload: 0..<buffer.count, now: world.now, counters: &counters)
        }
        grantReservations()
        guard let route else { return }
        let nextHeader = route.destination.isIPv4 ? NextHeader.ipv4 : NextHeader.ipv6
        guard let sealed = seal(packet, type: .userData, nextHeader: nextHeader, with: route.session.outbound) else { return }
        transmitter.sealed(route, pastSoftLimit: sealed.sequenceNumber >= OutboundSequenceNumber.softLimit)
        world.sealed(byHomeAgent: true, spi: route.session.securityParameterIndex, sealed.sequenceNumber, bytes: sealed.bytes)
        send(sealed.bytes, to: route.endpoint, in: world)
    }

    private func sendMobilityHeader(_ reply: OutgoingMobilityHeader, in world: Simulation) {
        let allowed = transmitter.maySignal(reply.session, counters: &counters)
        grantReservations()
        guard allowed,
            let sealed = seal(reply.octets, type: .mobilityHeader, nextHeader: NextHeader.mobility, with: reply.session.outbound)
        else { return }
        world.sealed(byHomeAgent: true, spi: reply.session.securityParameterIndex, sealed.sequenceNumber, bytes: sealed.bytes)
        send(sealed.bytes, to: reply.endpoint, in: world)
    }

    /// The state thread's answer to reservation requests: persist one step past, then grant.
    private func grantReservations() {
        transmitter.reservationRequests.drain { request in
            let limit = SendReservation.nextLimit(after: request.lastSent)
            if let index = store.firstIndex(where: { $0.association.securityParameterIndex == request.spi }) {
                store[index].sequence.sentReserved = max(store[index].sequence.sentReserved, limit)
            }
            request.reservation.grant(through: limit)
            return true
        }
    }

    private func send(_ bytes: [UInt8], to endpoint: Endpoint, in world: Simulation) {
        let remote = SimAddress(ip: endpoint.remote.address, port: endpoint.remote.port)
        let local = endpoint.local.address.map { SimAddress(ip: $0, port: Self.port) }
            ?? (remote.ip.isIPv4 ? addressV4 : addressV6)
        world.send(Datagram(bytes: bytes, from: local, to: remote, provenance: .genuine))
    }
}

extension DataChannelHeader {
    /// The header of a datagram held as an array, if it has one.
    static func read(_ bytes: [UInt8]) -> DataChannelHeader? {
        bytes.withUnsafeBytes { try? DataChannel.parseHeader($0, datagram: 0..<$0.count) }
    }
}
