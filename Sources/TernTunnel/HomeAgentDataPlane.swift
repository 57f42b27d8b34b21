import Synchronization
public import TernDataChannel
public import TernOS
public import TernProtocol
@_exported public import TernRoles

/// One row of the Home Agent's binding table, for status output.
public struct HomeAgentBinding: Sendable {
    public var mobileNode: String
    public var securityParameterIndex: SecurityParameterIndex
    /// Where packets go: the outer address of the newest authenticated packet.
    public var endpoint: Endpoint?
    /// The binding cache entry, when the MN holds a live registration.
    public var entry: BindingCacheEntry?
}

/// A Mobile Node a Home Agent's data plane serves: its SA, Home Addresses and sequence state.
public struct HomeAgentMobileNode: Sendable {
    public var name: String
    public var association: SecurityAssociation
    public var homeAddresses: [IPAddress]
    /// For an SA whose sequence numbers must survive a restart (DESIGN.md): the last HA→MN number
    /// that may have been used (the persisted reservation), and how far the sender may go before a
    /// new reservation is granted. nil: a static SA with no persistence (manual keying).
    public var sequenceReservation: (resumeAfter: UInt32, grantedThrough: UInt32)?
    /// When the HAC issued the SA and when it ends (seconds since 1970); nil for a static SA. In the
    /// last tenth of that time the HA answers Binding Updates with REINIT_SA_WITH_HAC (176).
    public var validity: (issuedAt: Double, end: Double)?
    /// For an SA restored after a restart: the highest MN→HA number persisted as accepted (refused
    /// from now on), and whether the previous run stopped uncleanly — then no datagram moves the
    /// endpoint until the MN's own Binding Update is accepted (docs/tunnel.md, "Restarts").
    public var receivedThrough: UInt32
    public var holdEndpointUntilBindingUpdate: Bool

    public init(
        name: String, association: SecurityAssociation, homeAddresses: [IPAddress],
        sequenceReservation: (resumeAfter: UInt32, grantedThrough: UInt32)? = nil,
        validity: (issuedAt: Double, end: Double)? = nil, receivedThrough: UInt32 = 0,
        holdEndpointUntilBindingUpdate: Bool = false
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

/// The Home Agent's data plane over a TUN device and UDP sockets: what the daemon runs.
public typealias HomeAgentDataPlane = HomeAgentEngine<TunDevice, UDPSocket>

/// The Home Agent's data plane: one UDP service port (IPv4 and IPv6 sockets), one TUN device, many
/// Mobile Nodes found by SPI in O(1) and by Home Address in O(1).
///
/// Two dedicated threads: TUN → seal → UDP, and UDP → open → TUN, each with its own batch of buffers
/// (recvmmsg/sendmmsg), allocated once; no lock per packet. A Mobile Node's packets are sent to the outer
/// address:port of its newest authenticated, non-replayed packet (DESIGN.md: who may move a binding), from
/// the local address that packet was sent to.
///
/// Generic over its packet device and datagram transport (docs/tunnel.md: Engines); tests run it over
/// in-memory ones.
public final class HomeAgentEngine<Device: PacketDevice, Transport: DatagramTransport>: SequenceStateSource,
    @unchecked Sendable
{
    /// A Mobile Node the data plane serves (``HomeAgentMobileNode``).
    public typealias MobileNode = HomeAgentMobileNode

    /// A binding as it changed on the receiving thread (``HomeAgentBindingChange``).
    public typealias BindingChange = HomeAgentBindingChange
    public let bindingChanges: Mailbox<BindingChange>
    /// Bindings to put back after a restart, consumed by the receiving thread.
    let restoredBindings: Mailbox<BindingChange>

    /// Asks for more HA→MN sequence numbers for an SA (the sending thread posts it when half of the
    /// granted step is used); whoever persists reservations answers with ``grantSequenceNumbers(_:through:)``.
    public let reservationRequests: Mailbox<(spi: SecurityParameterIndex, lastSent: UInt32)>
    /// Rung (once per batch at most) when an SA's highest accepted MN→HA number moved.
    public let highWaterBell: ChangeBell

    let tun: Device
    let ipv4: Transport?
    let ipv6: Transport?
    let tables: SessionTableSource
    private let slotLength: Int
    /// What the kernel does for this data plane (TUN and UDP offloads), fixed at start.
    public let offloads: DataPlaneOffloads
    let events: @Sendable (TunnelEvent) -> Void
    private let bindingPolicy: BindingCache.Policy
    /// A policy set by ``setBindingPolicy(_:)``, taken by the receiving thread before its next batch.
    private let pendingPolicy = Mutex<BindingCache.Policy?>(nil)
    private let policyPending = Atomic<Bool>(false)
    let stopping = Atomic<Bool>(false)
    let wakeUp: Notifier
    let signalling: Mailbox<OutgoingMobilityHeader>
    /// The binding cache's entries as the receiving thread last published them (on every change).
    let cacheSnapshot = Mutex<[BindingCacheEntry]>([])
    let counters = CounterBoard(threads: 2)
    /// The sending side's state: the sending thread's, lent to the receiving thread when it is free.
    let transmitter: Mutex<HomeAgentTransmitState<Device>>
    private var threads: [PlatformThread] = []
    /// `tunnel.crypto-threads`: lanes per data-plane thread, the thread itself included (1: none).
    public let cryptoThreads: Int
    /// The crypto lanes of the sending side (used by whoever holds ``transmitter``) and of the receiving
    /// thread, made by ``start()`` when ``cryptoThreads`` > 1.
    var cryptoLanes = DataPlaneLanes()

    /// - Parameters:
    ///   - sockets: bound UDP sockets (with packet info) for IPv4 and/or IPv6.
    ///   - mtu: the TUN device's MTU: the largest inner packet.
    ///   - bindingPolicy: lifetimes and NAT keepalive the binding cache grants (RFC 6275 §9.5, RFC 5555).
    public init(
        tun: Device, ipv4: Transport?, ipv6: Transport?, mtu: Int, mobileNodes: [MobileNode],
        bindingPolicy: BindingCache.Policy = BindingCache.Policy(), offloads enabled: Bool = false,
        cryptoThreads: Int = 1, events: @escaping @Sendable (TunnelEvent) -> Void
    ) throws(DataPlaneError) {
        self.bindingPolicy = bindingPolicy
        self.cryptoThreads = min(max(cryptoThreads, 1), CryptoLanes.maximumLanes)
        offloads = DataPlaneOffloads(enabled: enabled, tun: tun, sockets: [ipv4, ipv6].compactMap { $0 })
        self.tun = tun
        self.ipv4 = ipv4
        self.ipv6 = ipv6
        let lanes = self.cryptoThreads
        tables = SessionTableSource(SessionTable(try mobileNodes.map { (node) throws(DataPlaneError) in try Self.session(node, lanes: lanes) }))
        slotLength = PacketPath.slotLength(mtu: mtu)
        transmitter = Mutex(HomeAgentTransmitState(tun: tun, slotLength: slotLength, tables: tables))
        self.events = events
        do {
            wakeUp = try Notifier()
            signalling = try Mailbox()
            reservationRequests = try Mailbox()
            highWaterBell = try ChangeBell()
            bindingChanges = try Mailbox()
            restoredBindings = try Mailbox()
        } catch {
            throw .system(error.description)
        }
    }

    /// Starts the two data-plane threads.
    public func start() throws(SystemCallError) {
        cryptoLanes = try DataPlaneLanes(threads: cryptoThreads, name: "tern-ha")
        threads.append(try PlatformThread(name: "tern-ha-rx") { [self] in receiveLoop() })
        threads.append(try PlatformThread(name: "tern-ha-tx") { [self] in transmitLoop() })
    }

    /// Stops and joins the threads. Idempotent.
    public func stop() {
        stopping.store(true, ordering: .releasing)
        wakeUp.signal()
        for thread in threads { thread.join() }
        threads = []
        cryptoLanes.stop()
    }

    /// The counters of both threads, as last published.
    public func statistics() -> TunnelCounters { counters.total() }

    /// Installs another Mobile Node's SA while the data plane runs (the HAC does, after an exchange).
    /// A new SA for a Home Address that already has one takes precedence as soon as the Mobile Node
    /// registers under it; the older one keeps working until then (make before break).
    public func add(_ node: MobileNode) throws(DataPlaneError) {
        let session = try Self.session(node, lanes: cryptoThreads)
        try tables.update { (table) throws(DataPlaneError) in
            guard table.bySPI[node.association.securityParameterIndex.rawValue] == nil else {
                throw .system("SPI \(node.association.securityParameterIndex.rawValue) is in use already")
            }
            return SessionTable(table.sessions + [session])
        }
    }

    private static func session(_ node: MobileNode, lanes: Int) throws(DataPlaneError) -> MobileNodeSession {
        do {
            return try MobileNodeSession(
                name: node.name, association: node.association, homeAddresses: node.homeAddresses,
                sequenceReservation: node.sequenceReservation, validity: node.validity,
                receivedThrough: node.receivedThrough, holdEndpoint: node.holdEndpointUntilBindingUpdate, lanes: lanes)
        } catch {
            throw .securityAssociation(error)
        }
    }

    /// Removes the SA with `spi` (retired by the HAC). False if there was none.
    @discardableResult
    public func remove(_ spi: SecurityParameterIndex) -> Bool {
        var removed = false
        try? tables.update { (table) throws(DataPlaneError) in
            removed = table.bySPI[spi.rawValue] != nil
            return SessionTable(table.sessions.filter { $0.securityParameterIndex != spi })
        }
        return removed
    }

    /// Removes every SA of the Mobile Node called `name` in one step (revocation: `tern users remove` or
    /// `disable`); returns the SPIs removed and the Home Addresses they served.
    public func removeAll(of name: String) -> (spis: [SecurityParameterIndex], homeAddresses: [IPAddress]) {
        var removed: [MobileNodeSession] = []
        try? tables.update { (table) throws(DataPlaneError) in
            removed = table.sessions.filter { $0.name == name }
            return SessionTable(table.sessions.filter { $0.name != name })
        }
        return (removed.map(\.securityParameterIndex), Array(Set(removed.flatMap(\.homeAddresses))))
    }

    /// Grants Binding Updates by `policy` from the next one on (configuration reload); lifetimes already
    /// granted run as granted.
    public func setBindingPolicy(_ policy: BindingCache.Policy) {
        pendingPolicy.withLock { $0 = policy }
        policyPending.store(true, ordering: .releasing)
    }

    /// Puts back bindings a previous run accepted (times on this process's monotonic clock); applied by
    /// the receiving thread, which owns the binding cache.
    public func restore(_ bindings: [BindingChange]) {
        for binding in bindings { restoredBindings.post(binding) }
    }

    /// Lets the SA `spi` send HA→MN sequence numbers up to `limit` (persisted by the caller first).
    public func grantSequenceNumbers(_ spi: SecurityParameterIndex, through limit: UInt32) {
        guard let session = tables.current().0.bySPI[spi.rawValue] else { return }
        session.grantSequenceNumbers(through: limit)
    }

    /// Each SA's highest accepted MN→HA sequence number (for the state thread to persist).
    public func receivedHighWaters() -> [(spi: UInt32, highest: UInt32)] {
        tables.current().0.sessions.map { ($0.securityParameterIndex.rawValue, $0.receivedHighWater.load(ordering: .relaxed)) }
    }

    /// The earliest validity end (seconds since 1970) of the SAs in the data plane, if any has one.
    public var nextValidityEnd: Double? {
        tables.current().0.sessions.compactMap { $0.validity?.end }.min()
    }

    /// Removes every SA past its validity end at `now` (seconds since 1970); returns their SPIs.
    public func removeExpired(at now: Double) -> [SecurityParameterIndex] {
        let expired = tables.current().0.sessions.filter { ($0.validity?.end ?? .infinity) <= now }
        for session in expired { remove(session.securityParameterIndex) }
        return expired.map(\.securityParameterIndex)
    }

    /// The SPIs the data plane holds for the Mobile Node called `name` (two during an SA switch).
    public func securityParameterIndexes(of name: String) -> [SecurityParameterIndex] {
        tables.current().0.sessions.filter { $0.name == name }.map(\.securityParameterIndex)
    }

    /// Each Mobile Node's binding: where packets go, and its registration if it holds one.
    public func bindings() -> [HomeAgentBinding] {
        let entries = cacheSnapshot.withLock { $0 }
        return tables.current().0.sessions.map { session in
            HomeAgentBinding(
                mobileNode: session.name, securityParameterIndex: session.securityParameterIndex,
                endpoint: session.currentEndpoint(),
                entry: entries.first { $0.spi == session.securityParameterIndex })
        }
    }

    // MARK: UDP → open → TUN

    /// The receiving thread: reads batches, lets ``HomeAgentCore`` decide on each datagram, writes what
    /// it says to the TUN device and hands its actions on (``apply(_:)``).
    /// Specialized for the OS devices: the daemon's loops make no witness-table call per packet.
    @_specialize(where Device == TunDevice, Transport == UDPSocket)
    private func receiveLoop() {
        let sockets = [ipv4, ipv6].compactMap { $0 }
        let poller = Poller(
            sockets.map(\.readinessDescriptor) + [wakeUp.descriptor.rawValue, restoredBindings.notifier.descriptor.rawValue])
        let batch = PacketPath.receiveBatch(slotLength: slotLength, offloads: offloads)
        var local = TunnelCounters()
        var core = HomeAgentCore(tables: tables, policy: bindingPolicy)
        var actions = HomeAgentActions()
        let sink = InnerPacketSink(tun: tun, coalesceUDP: offloads.coalescesUDP)
        var publication = PublishSchedule(now: monotonicNanoseconds())
        while !stopping.load(ordering: .acquiring) {
            do {
                // No timeout while idle: only traffic, a binding's expiry, or the stop wakes this thread.
                let before = monotonicNanoseconds()
                var timeout = publication.pollTimeout(at: before)
                if let next = core.nextExpiry {
                    timeout = shorterPollTimeout(timeout, Self.milliseconds(from: before, to: next))
                }
                if try poller.wait(timeoutMilliseconds: timeout) { publication.changed() }
                let deliveredBefore = local.packetsReceived
                for (position, socket) in sockets.enumerated() where poller.isReadable(position) {
                    for _ in 0..<PacketPath.batchesPerWake {
                        let count = try socket.receive(into: batch)
                        if count == 0 { break }
                        core.beginBatch(now: monotonicNanoseconds(), wallClock: wallClockSeconds())
                        if policyPending.load(ordering: .relaxed), policyPending.exchange(false, ordering: .acquiring),
                            let policy = pendingPolicy.withLock({ $0 })
                        {
                            core.policy = policy
                        }
                        if let lanes = cryptoLanes.receiving {
                            PacketPath.forEachDatagram(in: batch, count: count, counters: &local) { datagram, local in
                                queue(datagram, lanes: lanes, core: &core, sink: sink, actions: &actions, counters: &local)
                            }
                            finish(lanes, core: &core, sink: sink, actions: &actions, counters: &local)
                        } else {
                            PacketPath.forEachDatagram(in: batch, count: count, counters: &local) { datagram, local in
                                if case .writeToTun(let payload) = core.receive(datagram, counters: &local, actions: &actions) {
                                    sink.deliver(payload, of: datagram.buffer, counters: &local)
                                }
                            }
                        }
                        sink.flush(counters: &local)
                        apply(&actions, core: core, counters: &local)
                    }
                }
                if local.packetsReceived != deliveredBefore { sendAnswers() }
            } catch {
                events(.threadFailed(thread: "tern-ha-rx", error: error.description))
                return
            }
            let now = monotonicNanoseconds()
            if poller.isReadable(sockets.count + 1) {
                core.restore(restoredBindings.take(), at: now, actions: &actions)
                apply(&actions, core: core, counters: &local)
            }
            core.expire(at: now, actions: &actions)
            apply(&actions, core: core, counters: &local)
            if publication.isDue(at: now) {
                counters.publish(local, slot: 0)
                publication.published(at: now)
            }
        }
        counters.publish(local, slot: 0)
    }

    /// Hands on what the core asked for after a batch: replies to the sending thread, binding changes to
    /// whoever persists them, events to the log, the binding cache's snapshot, the high-water bell.
    @inline(__always)
    private func apply(_ actions: inout HomeAgentActions, core: HomeAgentCore, counters local: inout TunnelCounters) {
        for reply in actions.replies where !signalling.post(reply) { local.drop(.signallingBacklog) }
        for change in actions.bindingChanges { bindingChanges.post(change) }
        for event in actions.events { events(event) }
        if actions.cacheChanged { cacheSnapshot.withLock { $0 = core.cache.entries } }
        if actions.highWaterMoved { highWaterBell.ring() }
        actions.removeAll()
    }

    /// Milliseconds from `now` until `deadline` (monotonic ns), rounded up, for poll.
    static func milliseconds(from now: UInt64, to deadline: UInt64) -> Int32 {
        deadline <= now ? 0 : Int32(clamping: (deadline - now + 999_999) / 1_000_000)
    }
}
