public import TernDataChannel
public import TernProtocol

/// The Home Agent's decisions for received datagrams, as a value: no descriptors, no clocks, no
/// threads (issue 14). Datagrams and the time go in; a ``ReceiveVerdict`` per datagram (what to write to
/// the TUN device) and ``HomeAgentActions`` per batch (what to send, persist and log) come out, as
/// boringtun's `decapsulate` or swift-nio-ssh's `SSHConnectionStateMachine`.
///
/// It owns what decides where a datagram belongs and what it may change: which session an SPI (or,
/// for PType 0, an outer address) names, the replay check through each session's inbound SA, the binding
/// cache, and who may move a binding (DESIGN.md: only the newest authenticated, non-replayed packet;
/// after an unclean restart only the MN's own accepted Binding Update). Its sending half is
/// ``Transmitter`` (``makeTransmitter()``), which shares the sessions; an engine runs each half on its
/// own thread, a simulation both on one.
///
/// Per datagram nothing is allocated: datagrams are opened in place in the caller's slots, and the
/// actions' arrays keep their capacity.
public struct HomeAgentCore {
    /// The sessions (SAs) the core serves, replaced whole when an SA is installed or retired.
    public let tables: SessionTableSource
    /// The sessions, as of this batch.
    public private(set) var view: SessionTableView
    /// PType 0 finds its Mobile Node by the outer address of an active binding; only this half moves
    /// bindings, so only it keeps this map.
    private var sessionByEndpoint: [SocketAddress: MobileNodeSession] = [:]
    /// The binding cache (RFC 6275 §9): Binding Updates are decided here.
    public private(set) var cache: BindingCache
    /// The time of the batch being handled: monotonic nanoseconds, and seconds since 1970 (validity).
    public private(set) var now: UInt64 = 0
    public private(set) var wallClock: Double = 0

    /// At most one "unknown binding" Binding Error a second to one Mobile Node.
    public static let bindingErrorInterval: UInt64 = 1_000_000_000

    public init(tables: SessionTableSource, policy: BindingCache.Policy) {
        self.tables = tables
        view = SessionTableView(tables)
        cache = BindingCache(policy: policy)
        rebuildEndpointMap()
    }

    /// The sending half, sharing this core's sessions.
    public func makeTransmitter() -> Transmitter { Transmitter(tables: tables) }

    /// Lifetimes and keepalives granted from the next Binding Update on (configuration reload).
    public var policy: BindingCache.Policy {
        get { cache.policy }
        set { cache.policy = newValue }
    }

    /// When the next binding expires (monotonic ns), if any is live.
    public var nextExpiry: UInt64? { cache.nextExpiry }

    /// Once per batch, before its datagrams: the time, and the session table if it changed.
    @inline(__always)
    public mutating func beginBatch(now: UInt64, wallClock: Double) {
        self.now = now
        self.wallClock = wallClock
        if view.refresh(from: tables) { rebuildEndpointMap() }
    }

    /// Sessions came or went: PType 0's map is rebuilt from the endpoints the sessions hold.
    private mutating func rebuildEndpointMap() {
        sessionByEndpoint = [:]
        for session in view.table.sessions {
            if let endpoint = session.currentEndpoint() { sessionByEndpoint[endpoint.remote] = session }
        }
    }

    // MARK: Receiving

    /// Where a datagram belongs before any crypto: dropped (counted), PType 0 (found by its outer
    /// address once earlier datagrams of the batch have moved their bindings), or a protected datagram
    /// of `session`.
    public enum Classification {
        case dropped
        case plaintext
        case protected(MobileNodeSession)
    }

    /// The ordered first step: header and SPI. With crypto lanes the engine opens `.protected` ones on
    /// the lanes and hands them to ``handle(_:of:session:counters:actions:)`` in arrival order.
    @inline(__always)
    public func classify(_ datagram: ReceivedDatagram, counters local: inout TunnelCounters) -> Classification {
        let header: DataChannelHeader
        do {
            header = try DataChannel.parseHeader(UnsafeRawBufferPointer(datagram.buffer), datagram: datagram.range)
        } catch {
            local.drop(error)
            return .dropped
        }
        guard datagram.source != nil else {
            local.drop(.unknownPlaintextSource)
            return .dropped
        }
        if header.packetType == .plaintext { return .plaintext }
        guard let session = view.table.bySPI[header.securityParameterIndexValue] else {
            local.drop(.unknownSecurityParameterIndex)
            return .dropped
        }
        return .protected(session)
    }

    /// One received datagram, whole: classified, opened in place (replay check, ICV, replay accept),
    /// then ``handle(_:of:session:counters:actions:)``.
    @inline(__always)
    public mutating func receive(
        _ datagram: ReceivedDatagram, counters local: inout TunnelCounters, actions: inout HomeAgentActions
    ) -> ReceiveVerdict {
        let session: MobileNodeSession
        switch classify(datagram, counters: &local) {
        case .dropped:
            return .done
        case .plaintext:
            guard let source = datagram.source, let found = sessionByEndpoint[source] else {
                local.drop(.unknownPlaintextSource)
                return .done
            }
            session = found
        case .protected(let found):
            session = found
        }
        let opened: OpenedDatagram
        do {
            opened = try session.inbound.open(datagram.buffer, datagram: datagram.range)
        } catch {
            local.drop(error)
            return .done
        }
        return handle(opened, of: datagram, session: session, counters: &local, actions: &actions)
    }

    /// What an authenticated datagram does: moves its binding when it is the newest, asks an MN without
    /// a binding to register, and is counted, answered (Mobility Header) or written to the TUN device.
    @inline(__always)
    public mutating func handle(
        _ opened: OpenedDatagram, of datagram: ReceivedDatagram, session: MobileNodeSession,
        counters local: inout TunnelCounters, actions: inout HomeAgentActions
    ) -> ReceiveVerdict {
        guard let source = datagram.source else {
            local.drop(.unknownPlaintextSource)
            return .done
        }
        let endpoint = Endpoint(remote: source, local: datagram.local)
        if opened.isNewest {
            session.receivedHighWater.store(opened.sequenceNumber, ordering: .relaxed)
            actions.highWaterMoved = true
            // A Binding Update moves the endpoint only once the binding cache has accepted it (a replayed
            // or stale BU moves nothing); after an unclean restart nothing else does until then.
            if opened.kind != .mobilityHeader, !session.endpointHeldUntilBindingUpdate {
                move(session, to: endpoint, counters: &local, actions: &actions)
            }
        }
        if opened.kind != .mobilityHeader, session.bindingExpiresAt.load(ordering: .relaxed) <= now,
            now &- session.lastBindingErrorAt >= Self.bindingErrorInterval
        {
            // Traffic from a Mobile Node the cache holds no binding for (the HA restarted, or the binding
            // lapsed while the MN was frozen): RFC 6275 §9.3.3's Binding Error, status 1, makes it
            // register again at once instead of at its next refresh.
            session.lastBindingErrorAt = now
            let error = BindingError(status: BindingError.unknownBindingForHomeAddress, homeAddress: .any, options: [])
            reply(.bindingError(error), to: endpoint, session: session, actions: &actions)
        }
        switch opened.kind {
        case .keepalive:
            local.keepalivesReceived &+= 1
            return .done
        case .mobilityHeader:
            local.mobilityHeadersReceived &+= 1
            let octets = Array(UnsafeRawBufferPointer(rebasing: datagram.buffer[opened.payload]))
            let accepted = handleMobilityHeader(
                octets, session: session, replyTo: endpoint, counters: &local, actions: &actions)
            if accepted, opened.isNewest {
                session.endpointHeldUntilBindingUpdate = false
                move(session, to: endpoint, counters: &local, actions: &actions)
            }
            return .done
        case .ipv4, .ipv6:
            guard let inner = InnerPacket.source(UnsafeRawBufferPointer(datagram.buffer), opened.payload),
                session.owns(inner)
            else {
                local.drop(.spoofedInnerSource)
                return .done
            }
            return .writeToTun(opened.payload)
        }
    }

    /// Sends `session`'s packets to `endpoint` from now on, if that is new (DESIGN.md: who may move a
    /// binding).
    @inline(__always)
    private mutating func move(
        _ session: MobileNodeSession, to endpoint: Endpoint, counters local: inout TunnelCounters,
        actions: inout HomeAgentActions
    ) {
        let previous = session.currentEndpoint()
        guard previous != endpoint else { return }
        _ = session.move(to: endpoint)
        if let previous { sessionByEndpoint[previous.remote] = nil }
        sessionByEndpoint[endpoint.remote] = session
        local.bindingMoves &+= 1
        actions.events.append(.bindingMoved(mobileNode: session.name, from: previous, to: endpoint))
    }

    /// Queues `message` for the sending half, to `endpoint`, under `session`'s outbound SA.
    public func reply(
        _ message: MobilityMessage, to endpoint: Endpoint, session: MobileNodeSession, actions: inout HomeAgentActions
    ) {
        actions.replies.append(
            OutgoingMobilityHeader(session: session, endpoint: endpoint, octets: MobilityHeaderCodec.encode(message)))
    }

    // MARK: Binding management

    /// Answers an authenticated Mobility Header from a Mobile Node: a Binding Update goes through the
    /// binding cache and its Binding Acknowledgement goes back to the outer address:port the BU came
    /// from (DESIGN.md: Replies); an unknown MH Type gets a Binding Error with status 2 (RFC 6275 §9.2).
    /// Returns whether it was a Binding Update the cache accepted (registered, refreshed or
    /// deregistered): only that may move the endpoint.
    private mutating func handleMobilityHeader(
        _ octets: [UInt8], session: MobileNodeSession, replyTo endpoint: Endpoint, counters local: inout TunnelCounters,
        actions: inout HomeAgentActions
    ) -> Bool {
        let message: MobilityMessage
        do {
            message = try MobilityHeaderCodec.decode(octets)
        } catch .unknownMessageType {
            let error = BindingError(status: BindingError.unrecognizedMobilityHeaderType, homeAddress: .any, options: [])
            reply(.bindingError(error), to: endpoint, session: session, actions: &actions)
            local.drop(.unexpectedMobilityMessage)
            return false
        } catch {
            local.drop(.malformedMobilityHeader)
            return false
        }
        guard case .bindingUpdate(let update) = message else {
            local.drop(.unexpectedMobilityMessage)
            return false
        }
        let decision = cache.process(
            update, spi: session.securityParameterIndex, outerSource: endpoint.remote.address,
            assignedIPv4HomeAddress: session.ipv4HomeAddress,
            reinitializeSecurityAssociation: session.needsNewSecurityAssociation(
                inboundHighest: session.inbound.replayWindow.highestAccepted, now: wallClock),
            at: now)
        let outcome: String
        var accepted = true
        switch decision.outcome {
        case .registered(let entry), .refreshed(let entry):
            session.bindingExpiresAt.store(entry.expiresAt, ordering: .relaxed)
            actions.bindingChanges.append(HomeAgentBindingChange(spi: entry.spi, entry: entry, endpoint: endpoint.remote))
            outcome = "accepted, lifetime \(entry.lifetimeSeconds) s" + (entry.behindNAT ? ", behind NAT" : "")
        case .deregistered(let spi):
            session.bindingExpiresAt.store(0, ordering: .relaxed)
            actions.bindingChanges.append(HomeAgentBindingChange(spi: spi, entry: nil, endpoint: nil))
            outcome = "deregistered"
        case .rejected(let status):
            outcome = "rejected with status \(status)"
            accepted = false
        }
        actions.cacheChanged = true
        actions.events.append(.bindingUpdate(mobileNode: session.name, outcome: outcome))
        if let acknowledgement = decision.acknowledgement {
            reply(.bindingAcknowledgement(acknowledgement), to: endpoint, session: session, actions: &actions)
        }
        return accepted
    }

    /// Puts back bindings a previous run accepted (times on this process's monotonic clock, `now`). A
    /// restored endpoint has no known local address: the kernel picks.
    public mutating func restore(_ bindings: [HomeAgentBindingChange], at now: UInt64, actions: inout HomeAgentActions) {
        if view.refresh(from: tables) { rebuildEndpointMap() }
        for restored in bindings {
            guard let entry = restored.entry, let session = view.table.bySPI[restored.spi.rawValue] else { continue }
            cache.restore(entry, at: now)
            guard cache.isLive(restored.spi, at: now) else { continue }
            session.bindingExpiresAt.store(entry.expiresAt, ordering: .relaxed)
            if let remote = restored.endpoint, session.currentEndpoint() == nil {
                _ = session.move(to: Endpoint(remote: remote, local: .unspecified))
                sessionByEndpoint[remote] = session
            }
        }
        actions.cacheChanged = true
    }

    /// Removes the bindings whose lifetime ran out by `now`: no more packets go to those MNs until they
    /// register again.
    public mutating func expire(at now: UInt64, actions: inout HomeAgentActions) {
        guard let next = cache.nextExpiry, next <= now else { return }
        for entry in cache.expire(at: now) {
            actions.bindingChanges.append(HomeAgentBindingChange(spi: entry.spi, entry: nil, endpoint: nil))
            if let session = view.table.bySPI[entry.spi.rawValue] {
                session.bindingExpiresAt.store(0, ordering: .relaxed)
                actions.events.append(.bindingExpired(mobileNode: session.name))
            }
        }
        actions.cacheChanged = true
    }
}
