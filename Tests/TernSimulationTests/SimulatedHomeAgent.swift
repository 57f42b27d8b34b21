import TernDataChannel
import TernProtocol
import TernTunnel

/// A Home Agent in the simulation: the real SA halves (TernDataChannel), the real ``BindingCache`` and the
/// real restart arithmetic (``PersistedSequenceState``), arranged as `HomeAgentDataPlane` arranges them on
/// its threads (receive → open → who may move a binding → Mobility Header or delivery; send → reservation
/// → seal). What persists across a crash is what the HA persists: each SA's send reservation and
/// receive high-water mark (every ``SequenceStatePersistence/highWaterPeriod``, exactly at a clean stop),
/// and each accepted binding with its endpoint.
final class SimulatedHomeAgent {
    final class Session {
        let mobileNode: Int
        let spi: SecurityParameterIndex
        let homeAddress: IPv4Address
        let outbound: OutboundSecurityAssociation
        let inbound: InboundSecurityAssociation
        var endpoint: SimAddress?
        /// After an unclean restart, nothing but the MN's own accepted Binding Update moves the endpoint.
        var endpointHeldUntilBindingUpdate: Bool
        var grantedThrough: UInt32
        var receivedHighWater: UInt32
        var lastBindingErrorAt: VirtualTime = 0

        init(
            mobileNode: Int, association: SecurityAssociation, homeAddress: IPv4Address, state: PersistedSequenceState
        ) throws {
            self.mobileNode = mobileNode
            spi = association.securityParameterIndex
            self.homeAddress = homeAddress
            let resumed = state.resumedReservation
            (outbound, inbound) = try association.makeEndpoints(
                for: .homeAgent, lastSentSequenceNumber: resumed.resumeAfter, receivedThrough: state.receivedHighest)
            grantedThrough = resumed.grantedThrough
            receivedHighWater = state.receivedHighest
            endpointHeldUntilBindingUpdate = !state.cleanStop
        }
    }

    /// What the HA's store holds for one SA (the HAC's database in the real deployment).
    struct Persisted {
        var mobileNode: Int
        var association: SecurityAssociation
        var homeAddress: IPv4Address
        var sequence: PersistedSequenceState
        var binding: BindingCacheEntry?
        var endpoint: SimAddress?
    }

    static let port: UInt16 = 7872
    static let bindingErrorInterval: VirtualTime = 1 * second
    /// Sequence numbers one reservation covers (TernTunnel's `SendReservation.step`, read through the
    /// public arithmetic).
    static let reservationStep = PersistedSequenceState(sentReserved: 0).resumedReservation.grantedThrough

    let index: Int
    let addressV4: SimAddress
    let addressV6: SimAddress
    private(set) var store: [Persisted] = []
    private(set) var running = true
    private(set) var incarnation = 0
    private(set) var sessions: [Session] = []
    private var bySPI: [UInt32: Session] = [:]
    private var byEndpoint: [SimAddress: Session] = [:]
    private(set) var cache = BindingCache(policy: .init(maximumLifetimeSeconds: 120))

    init(index: Int) {
        self.index = index
        addressV4 = SimAddress(ip: .v4(IPv4Address(203, 0, 113, UInt8(1 + index))), port: Self.port)
        addressV6 = SimAddress(ip: .v6(IPv6Address(high: 0x2001_0db8_0000_0000, low: UInt64(1 + index))), port: Self.port)
    }

    var endpointCount: Int { byEndpoint.count }

    /// The HAC provisioned an SA for `mobileNode`: persisted first, then served.
    func install(mobileNode: Int, association: SecurityAssociation, homeAddress: IPv4Address) throws {
        store.append(
            Persisted(
                mobileNode: mobileNode, association: association, homeAddress: homeAddress,
                sequence: PersistedSequenceState()))
        if running { try serve(store.count - 1, at: 0) }
    }

    /// Serves the SA stored at `index`: its sender resumes past the persisted reservation, and the next
    /// reservation is persisted before any of it is used; the run is marked unclean until it stops.
    private func serve(_ index: Int, at now: VirtualTime) throws {
        let persisted = store[index]
        let session = try Session(
            mobileNode: persisted.mobileNode, association: persisted.association, homeAddress: persisted.homeAddress,
            state: persisted.sequence)
        store[index].sequence.sentReserved = persisted.sequence.resumedReservation.grantedThrough
        store[index].sequence.cleanStop = false
        sessions.append(session)
        bySPI[session.spi.rawValue] = session
        if let entry = persisted.binding {
            cache.restore(entry, at: now)
            if cache.isLive(session.spi, at: now), let endpoint = persisted.endpoint {
                session.endpoint = endpoint
                byEndpoint[endpoint] = session
            }
        }
    }

    func session(for spi: SecurityParameterIndex) -> Session? { bySPI[spi.rawValue] }

    // MARK: Crash and restart

    func crash(clean: Bool) {
        guard running else { return }
        if clean { persistHighWater() }
        for index in store.indices { store[index].sequence.cleanStop = clean }
        running = false
        sessions = []
        bySPI = [:]
        byEndpoint = [:]
        cache = BindingCache(policy: cache.policy)
    }

    /// Starts again from the store: each sender resumes past its reservation (and persists the next one
    /// before using it), each receiver refuses what it persisted as accepted.
    func restart(at now: VirtualTime) throws {
        guard !running else { return }
        running = true
        incarnation += 1
        for index in store.indices { try serve(index, at: now) }
    }

    /// The state thread's periodic write of each SA's highest accepted inbound number.
    func persistHighWater() {
        for session in sessions {
            guard let index = store.firstIndex(where: { $0.association.securityParameterIndex == session.spi }) else {
                continue
            }
            store[index].sequence.receivedHighest = max(store[index].sequence.receivedHighest, session.receivedHighWater)
        }
    }

    private func persistBinding(_ spi: SecurityParameterIndex, entry: BindingCacheEntry?, endpoint: SimAddress?) {
        guard let index = store.firstIndex(where: { $0.association.securityParameterIndex == spi }) else { return }
        store[index].binding = entry
        store[index].endpoint = endpoint
    }

    // MARK: Receiving (UDP → TUN)

    func receive(_ datagram: Datagram, in world: Simulation) {
        guard running else { return }
        let header: DataChannelHeader
        do {
            header = try datagram.bytes.withUnsafeBytes { buffer throws(DataChannelDropReason) in
                try DataChannel.parseHeader(buffer, datagram: 0..<buffer.count)
            }
        } catch {
            return
        }
        guard header.packetType != .plaintext, let session = bySPI[header.securityParameterIndexValue] else { return }
        guard let (opened, payload) = open(datagram.bytes, with: session.inbound) else { return }
        world.homeAgentAccepted(self, spi: session.spi, opened.sequenceNumber, datagram)
        if opened.isNewest {
            session.receivedHighWater = opened.sequenceNumber
            if opened.kind != .mobilityHeader, !session.endpointHeldUntilBindingUpdate {
                move(session, to: datagram.from, by: datagram, sequenceNumber: opened.sequenceNumber, in: world)
            }
        }
        if opened.kind != .mobilityHeader, !cache.isLive(session.spi, at: world.now),
            world.now &- session.lastBindingErrorAt >= Self.bindingErrorInterval
        {
            session.lastBindingErrorAt = world.now
            let error = BindingError(status: BindingError.unknownBindingForHomeAddress, homeAddress: .any, options: [])
            sendMobilityHeader(.bindingError(error), of: session, to: datagram.from, in: world)
        }
        switch opened.kind {
        case .keepalive:
            break
        case .mobilityHeader:
            if handleMobilityHeader(payload, of: session, from: datagram.from, in: world), opened.isNewest {
                session.endpointHeldUntilBindingUpdate = false
                move(session, to: datagram.from, by: datagram, sequenceNumber: opened.sequenceNumber, in: world)
            }
        case .ipv4, .ipv6:
            guard let addresses = innerAddresses(payload), addresses.source == .v4(session.homeAddress) else { return }
            world.deliveredToInternet(payload, by: self, session: session)
        }
    }

    private func move(
        _ session: Session, to endpoint: SimAddress, by datagram: Datagram, sequenceNumber: UInt32, in world: Simulation
    ) {
        guard session.endpoint != endpoint else { return }
        world.homeAgentMoved(self, session: session, to: endpoint, by: datagram, sequenceNumber: sequenceNumber)
        if let previous = session.endpoint { byEndpoint[previous] = nil }
        session.endpoint = endpoint
        byEndpoint[endpoint] = session
    }

    /// Returns whether a Binding Update was accepted (only that may move the endpoint).
    private func handleMobilityHeader(
        _ octets: [UInt8], of session: Session, from source: SimAddress, in world: Simulation
    ) -> Bool {
        guard case .bindingUpdate(let update) = try? MobilityHeaderCodec.decode(octets) else { return false }
        let decision = cache.process(
            update, spi: session.spi, outerSource: source.ip, assignedIPv4HomeAddress: session.homeAddress,
            reinitializeSecurityAssociation: false, at: world.now)
        var accepted = true
        switch decision.outcome {
        case .registered(let entry), .refreshed(let entry):
            persistBinding(session.spi, entry: entry, endpoint: source)
        case .deregistered(let spi):
            persistBinding(spi, entry: nil, endpoint: nil)
        case .rejected:
            accepted = false
        }
        if let acknowledgement = decision.acknowledgement {
            sendMobilityHeader(.bindingAcknowledgement(acknowledgement), of: session, to: source, in: world)
        }
        return accepted
    }

    // MARK: Sending (TUN → UDP)

    /// A packet from the Internet for `homeAddress`.
    func forward(_ packet: [UInt8], to homeAddress: IPv4Address, in world: Simulation) {
        guard running else { return }
        guard let session = sessions.first(where: { $0.homeAddress == homeAddress }),
            cache.isLive(session.spi, at: world.now), let endpoint = session.endpoint
        else { return }
        guard reserve(session) else { return }
        guard let sealed = seal(packet, type: .userData, nextHeader: NextHeader.ipv4, with: session.outbound) else { return }
        world.sealed(byHomeAgent: true, spi: session.spi, sealed.sequenceNumber, bytes: sealed.bytes)
        world.send(Datagram(bytes: sealed.bytes, from: local(for: endpoint), to: endpoint, provenance: .genuine))
    }

    private func sendMobilityHeader(_ message: MobilityMessage, of session: Session, to endpoint: SimAddress, in world: Simulation) {
        guard reserve(session) else { return }
        let octets = MobilityHeaderCodec.encode(message)
        guard let sealed = seal(octets, type: .mobilityHeader, nextHeader: NextHeader.mobility, with: session.outbound)
        else { return }
        world.sealed(byHomeAgent: true, spi: session.spi, sealed.sequenceNumber, bytes: sealed.bytes)
        world.send(Datagram(bytes: sealed.bytes, from: local(for: endpoint), to: endpoint, provenance: .genuine))
    }

    /// The send reservation: the next number must be within what is persisted; with half a step left,
    /// the next step is persisted and granted (synchronously here; the state thread in the daemon).
    private func reserve(_ session: Session) -> Bool {
        let lastSent = session.outbound.sequenceNumber.lastSent
        if session.grantedThrough &- lastSent <= Self.reservationStep / 2,
            let index = store.firstIndex(where: { $0.association.securityParameterIndex == session.spi })
        {
            let next = PersistedSequenceState(sentReserved: lastSent).resumedReservation.grantedThrough
            store[index].sequence.sentReserved = max(store[index].sequence.sentReserved, next)
            session.grantedThrough = max(session.grantedThrough, next)
        }
        return lastSent < session.grantedThrough
    }

    private func local(for remote: SimAddress) -> SimAddress { remote.ip.isIPv4 ? addressV4 : addressV6 }
}
