import Synchronization
public import TernDataChannel
public import TernOS
public import TernProtocol
public import TernRoles
#if canImport(Glibc)
import Glibc
#endif

/// The Mobile Node's data plane over a TUN device and UDP sockets: what the daemon runs.
public typealias MobileNodeDataPlane = MobileNodeEngine<TunDevice, UDPSocket>

/// The Mobile Node's data plane: everything read from its TUN device goes to the Home Agent; everything
/// authenticated from the HA goes to the TUN device.
///
/// Two dedicated threads, batches both ways, no allocation or lock per packet. The sockets are *not*
/// connected: every batch is sent to the HA address the control plane chose, and the kernel picks the
/// source address by the routing table at that moment, so when the MN moves its very next packet
/// leaves from the new care-of address and the HA follows it (DESIGN.md: who may move a binding). The
/// control plane (``MobileNodeController``) decides which of the HA's addresses to use, and hands
/// Mobility Headers in and out through mailboxes; this type never decides anything about bindings.
///
/// A keepalive (DESIGN.md: PType 1, Next Header 59, empty) goes out whenever nothing else has been
/// sent for the keepalive interval, which the control plane may shorten to what a NAT needs.
///
/// Generic over its packet device and datagram transport (docs/tunnel.md: Engines); tests run it over
/// in-memory ones.
public final class MobileNodeEngine<Device: PacketDevice, Transport: DatagramTransport>: SequenceStateSource,
    @unchecked Sendable
{
    private let tun: Device
    private let ipv4: Transport?
    private let ipv6: Transport?
    /// The Home Agent's service addresses, in the order of preference the configuration gave.
    public let homeAgents: [SocketAddress]
    /// The SAs in use, replaced whole when the control plane installs a new one (make before break).
    let associations: AssociationSource
    private let homeAddresses: [IPAddress]
    private let slotLength: Int
    /// What the kernel does for this data plane (TUN and UDP offloads), fixed at start.
    public let offloads: DataPlaneOffloads
    private let events: @Sendable (TunnelEvent) -> Void
    private let stopping = Atomic<Bool>(false)
    /// Stop only: never drained, so every thread sees it.
    private let wakeUp: Notifier
    /// Wakes the transmitting thread to re-read the keepalive interval.
    let controlWake: Notifier
    private let counters = CounterBoard(threads: 2)
    private var threads: [PlatformThread] = []
    /// `tunnel.crypto-threads`: lanes per data-plane thread, the thread itself included (1: none).
    public let cryptoThreads: Int
    /// The two threads' crypto lanes, made by ``start()`` when ``cryptoThreads`` > 1.
    private var cryptoLanes = DataPlaneLanes()

    /// Index into ``homeAgents`` of the address in use, or −1 while there is no path.
    private let homeAgentIndex = Atomic<Int>(-1)
    private let keepaliveSeconds: Atomic<Int>
    /// Mobility Headers from the control plane, to be sealed as PType 8 and sent.
    private let outgoingSignalling: Mailbox<[UInt8]>
    /// Authenticated Mobility Headers from the HA, for the control plane.
    public let incomingSignalling: Mailbox<[UInt8]>
    /// Sequence state of a static SA that persists (`state-directory`, docs/tunnel.md): the sending
    /// thread asks for reservations here; the receiving thread publishes the highest HA→MN number it
    /// accepted and rings the bell (once a batch at most).
    public let reservationRequests: Mailbox<(spi: SecurityParameterIndex, lastSent: UInt32)>
    public let highWaterBell: ChangeBell
    let persistsSequenceState: Bool
    /// Handover bookkeeping: the control plane bumps the generation when a move starts; the receiving
    /// thread notes when the first inner packet arrives after that (read once per batch, not per packet).
    private let handoverGeneration = Atomic<UInt64>(0)
    private let firstDataGeneration = Atomic<UInt64>(0)
    private let firstDataAt = Atomic<UInt64>(0)
    /// When the last Mobility Header left (monotonic ns), for the handover record.
    private let lastSignallingSentAt = Atomic<UInt64>(0)
    /// Signalled (once per handover) when the first inner packet after it arrived, so the control plane
    /// completes its record without polling for it.
    public let handoverProgress: Notifier

    /// - Parameters:
    ///   - ipv4, ipv6: unconnected UDP sockets, one for each family the Home Agent has an address of.
    ///   - homeAgents: the HA's service addresses, most preferred first.
    public init(
        tun: Device, ipv4: Transport?, ipv6: Transport?, homeAgents: [SocketAddress], mtu: Int,
        association: SecurityAssociation, homeAddresses: [IPAddress], keepaliveIntervalSeconds: Int,
        offloads enabled: Bool = false, cryptoThreads: Int = 1, restored: PersistedSequenceState? = nil,
        events: @escaping @Sendable (TunnelEvent) -> Void
    ) throws(DataPlaneError) {
        persistsSequenceState = restored != nil
        self.tun = tun
        self.cryptoThreads = min(max(cryptoThreads, 1), CryptoLanes.maximumLanes)
        offloads = DataPlaneOffloads(enabled: enabled, tun: tun, sockets: [ipv4, ipv6].compactMap { $0 })
        self.ipv4 = ipv4
        self.ipv6 = ipv6
        self.homeAgents = homeAgents
        do {
            associations = AssociationSource(
                try AssociationSet(current: association, previous: nil, lanes: self.cryptoThreads, restored: restored),
                receivedThrough: restored?.receivedHighest ?? 0)
            reservationRequests = try Mailbox()
            highWaterBell = try ChangeBell()
            wakeUp = try Notifier()
            controlWake = try Notifier()
            handoverProgress = try Notifier()
            outgoingSignalling = try Mailbox()
            incomingSignalling = try Mailbox()
        } catch let error as SecurityAssociationError {
            throw .securityAssociation(error)
        } catch {
            throw .system(String(describing: error))
        }
        for homeAgent in homeAgents where (homeAgent.address.isIPv4 ? ipv4 : ipv6) == nil {
            throw .system("no \(homeAgent.address.isIPv4 ? "IPv4" : "IPv6") socket for the Home Agent at \(homeAgent)")
        }
        self.homeAddresses = homeAddresses
        keepaliveSeconds = Atomic(keepaliveIntervalSeconds)
        slotLength = PacketPath.slotLength(mtu: mtu)
        self.events = events
    }

    public func start() throws(SystemCallError) {
        cryptoLanes = try DataPlaneLanes(threads: cryptoThreads, name: "tern-mn")
        threads.append(try PlatformThread(name: "tern-mn-rx") { [self] in receiveLoop() })
        threads.append(try PlatformThread(name: "tern-mn-tx") { [self] in transmitLoop() })
    }

    public func stop() {
        stopping.store(true, ordering: .releasing)
        wakeUp.signal()
        for thread in threads { thread.join() }
        threads = []
        cryptoLanes.stop()
    }

    public func statistics() -> TunnelCounters { counters.total() }

    /// Errors a socket reports for the network's doing (an ICMP error for an earlier datagram, a path
    /// that just went away): counted by the kernel, never a reason to stop a thread.
    static var transientErrors: Set<Int32> { transientSocketErrors }

    // MARK: What the control plane drives

    /// Sends from now on to `homeAgents[index]`; nil: no path (packets from the TUN are dropped and
    /// counted as `no_path_to_home_agent`).
    public func useHomeAgent(_ index: Int?) {
        homeAgentIndex.store(index.flatMap { homeAgents.indices.contains($0) ? $0 : nil } ?? -1, ordering: .releasing)
    }

    /// Seals `mobilityHeader` as PType 8 and sends it to the Home Agent address in use, from the
    /// transmitting thread (which owns the outbound sequence numbers). False if the mailbox was full.
    @discardableResult
    public func send(mobilityHeader: [UInt8]) -> Bool { outgoingSignalling.post(mobilityHeader) }

    /// The keepalive interval from now on (a NAT's refresh time can shorten it); 0 turns keepalives off.
    public func setKeepaliveInterval(seconds: Int) {
        keepaliveSeconds.store(max(seconds, 0), ordering: .relaxed)
        controlWake.signal()
    }

    /// Starts a new handover generation; returns it.
    public func beginHandover() -> UInt64 { handoverGeneration.add(1, ordering: .relaxed).newValue }

    /// When (monotonic ns) the first inner packet arrived after `generation` began, if it has.
    public func firstDataReceived(since generation: UInt64) -> UInt64? {
        guard firstDataGeneration.load(ordering: .acquiring) == generation else { return nil }
        let at = firstDataAt.load(ordering: .relaxed)
        return at == 0 ? nil : at
    }

    /// When (monotonic ns) the last Mobility Header was handed to the kernel.
    public var lastMobilityHeaderSentAt: UInt64 { lastSignallingSentAt.load(ordering: .relaxed) }

    // MARK: UDP → open → TUN

    /// The receiving thread: reads batches, lets ``MobileNodeCore`` decide on each datagram, writes what
    /// it says to the TUN device and hands Mobility Headers to the control plane.
    /// Specialized for the OS devices: the daemon's loops make no witness-table call per packet.
    @_specialize(where Device == TunDevice, Transport == UDPSocket)
    private func receiveLoop() {
        let sockets = [ipv4, ipv6].compactMap { $0 }
        let poller = Poller(sockets.map(\.readinessDescriptor) + [wakeUp.descriptor.rawValue])
        let batch = PacketPath.receiveBatch(slotLength: slotLength, offloads: offloads)
        let sink = InnerPacketSink(tun: tun, coalesceUDP: offloads.coalescesUDP)
        var local = TunnelCounters()
        var core = MobileNodeCore(
            associations: associations, homeAgents: homeAgents, homeAddresses: homeAddresses,
            persistsSequenceState: persistsSequenceState)
        var actions = MobileNodeActions()
        var seenGeneration: UInt64 = 0
        var publication = PublishSchedule(now: monotonicNanoseconds())
        while !stopping.load(ordering: .acquiring) {
            do {
                // No timeout while idle: only traffic or the stop wakes this thread.
                if try poller.wait(timeoutMilliseconds: publication.pollTimeout(at: monotonicNanoseconds())) {
                    publication.changed()
                }
            } catch {
                events(.threadFailed(thread: "tern-mn-rx", error: error.description))
                return
            }
            for (position, socket) in sockets.enumerated() where poller.isReadable(position) {
                do {
                    for _ in 0..<PacketPath.batchesPerWake {
                        let count = try socket.receive(into: batch)
                        if count == 0 { break }
                        let deliveredBefore = local.packetsReceived
                        core.beginBatch()
                        if let lanes = cryptoLanes.receiving {
                            PacketPath.forEachDatagram(in: batch, count: count, counters: &local) { datagram, local in
                                queue(datagram, core: core, sink: sink, lanes: lanes, actions: &actions, counters: &local)
                            }
                            finish(lanes, core: core, sink: sink, actions: &actions, counters: &local)
                        } else {
                            PacketPath.forEachDatagram(in: batch, count: count, counters: &local) { datagram, local in
                                if case .writeToTun(let payload) = core.receive(datagram, counters: &local, actions: &actions) {
                                    sink.deliver(payload, of: datagram.buffer, counters: &local)
                                }
                            }
                        }
                        sink.flush(counters: &local)
                        if local.packetsReceived != deliveredBefore { noteFirstData(seen: &seenGeneration) }
                        apply(&actions, counters: &local)
                    }
                } catch {
                    // ICMP errors (the HA not listening yet, a path that just went away) come back as
                    // errors on the next call: the network's doing, not a reason to stop.
                    if Self.transientErrors.contains(error.errno) { continue }
                    events(.threadFailed(thread: "tern-mn-rx", error: error.description))
                    return
                }
            }
            let now = monotonicNanoseconds()
            if publication.isDue(at: now) {
                counters.publish(local, slot: 0)
                publication.published(at: now)
            }
        }
        counters.publish(local, slot: 0)
    }

    /// Hands on what the core asked for after a batch: Mobility Headers to the control plane, the bell.
    @inline(__always)
    private func apply(_ actions: inout MobileNodeActions, counters local: inout TunnelCounters) {
        for message in actions.mobilityHeaders where !incomingSignalling.post(message) { local.drop(.signallingBacklog) }
        if actions.highWaterMoved { highWaterBell.ring() }
        actions.removeAll()
    }

    /// Once per batch that delivered data: the first data after a handover began is what the handover
    /// record waits for.
    @inline(__always)
    private func noteFirstData(seen: inout UInt64) {
        let generation = handoverGeneration.load(ordering: .relaxed)
        guard generation != seen else { return }
        seen = generation
        firstDataAt.store(monotonicNanoseconds(), ordering: .relaxed)
        firstDataGeneration.store(generation, ordering: .releasing)
        handoverProgress.signal()
    }

    // MARK: TUN → seal → UDP

    /// The sending thread: TUN batches sealed along the core's routes, the control plane's Mobility
    /// Headers, and the keepalives the core's schedule asks for.
    /// Specialized for the OS devices: the daemon's loops make no witness-table call per packet.
    @_specialize(where Device == TunDevice, Transport == UDPSocket)
    private func transmitLoop() {
        let poller = Poller([
            tun.readinessDescriptor, outgoingSignalling.notifier.descriptor.rawValue, controlWake.descriptor.rawValue,
            wakeUp.descriptor.rawValue,
        ])
        let batch = DatagramBatch(slotLength: slotLength)
        let reader = TunReader(tun: tun)
        let families = UnsafeMutableBufferPointer<Bool>.allocate(capacity: batch.capacity)
        families.initialize(repeating: false)
        defer { families.deallocate() }
        var local = TunnelCounters()
        var interval = keepaliveSeconds.load(ordering: .relaxed)
        var core = MobileNodeCore.Transmitter(
            associations: associations, keepaliveIntervalSeconds: interval, now: monotonicNanoseconds())
        var publication = PublishSchedule(now: monotonicNanoseconds())
        while !stopping.load(ordering: .acquiring) {
            do {
                // Idle, this thread wakes only for the next keepalive (DESIGN.md: 25 s by default).
                let before = monotonicNanoseconds()
                let timeout = shorterPollTimeout(publication.pollTimeout(at: before), core.millisecondsUntilKeepalive(at: before))
                if try poller.wait(timeoutMilliseconds: timeout) { publication.changed() }
                core.beginBatch(homeAgent: currentHomeAgent())
                if poller.isReadable(1) { sendSignalling(batch, core: &core, counters: &local) }
                if poller.isReadable(0) {
                    for _ in 0..<PacketPath.batchesPerWake {
                        let (count, tunEmpty) = try fill(batch, from: reader, core: &core, counters: &local)
                        cryptoLanes.sending?.run(counters: &local)
                        if count > 0, let homeAgent = core.homeAgent {
                            families.update(repeating: !homeAgent.address.isIPv4)
                            if let lanes = cryptoLanes.sending?.jobs {
                                lanes.flush(batch, count: count, families: families, ipv4: ipv4, ipv6: ipv6, counters: &local)
                            } else {
                                PacketPath.flush(
                                    batch, slots: 0..<count, families: families, ipv4: ipv4, ipv6: ipv6, counters: &local)
                            }
                            core.sent(at: monotonicNanoseconds())
                        }
                        if tunEmpty { break }
                    }
                }
                if poller.isReadable(2) { controlWake.drain() }
            } catch {
                events(.threadFailed(thread: "tern-mn-tx", error: error.description))
                return
            }
            let now = monotonicNanoseconds()
            let wanted = keepaliveSeconds.load(ordering: .relaxed)
            if wanted != interval {
                interval = wanted
                core.setKeepaliveInterval(seconds: interval)
            }
            if core.keepaliveDue(at: now) {
                core.beginBatch(homeAgent: currentHomeAgent())
                sendKeepalive(batch, core: &core, counters: &local)
                publication.changed()
            }
            core.reservationRequests.drain { reservationRequests.post(($0.spi, $0.lastSent)) }
            if publication.isDue(at: now) {
                counters.publish(local, slot: 1)
                publication.published(at: now)
            }
        }
        counters.publish(local, slot: 1)
    }

    @inline(__always)
    private func currentHomeAgent() -> SocketAddress? {
        let index = homeAgentIndex.load(ordering: .acquiring)
        return index >= 0 ? homeAgents[index] : nil
    }

    /// Reads packets from the TUN into the batch's slots and seals each along the core's route. Returns
    /// how many slots are ready to send, and whether the TUN device ran dry. With no path, packets are
    /// read and dropped (counted), so the TUN queue does not fill with stale data.
    @inline(__always)
    private func fill(
        _ batch: DatagramBatch, from reader: TunReader<Device>, core: inout MobileNodeCore.Transmitter,
        counters local: inout TunnelCounters
    ) throws(SystemCallError) -> (count: Int, tunEmpty: Bool) {
        var count = 0
        // Jobs of a batch a TUN read error cut short were never sent: they go with it.
        cryptoLanes.sending?.jobs.removeAll()
        // The MN's SA is replaced through the HAC (issue 6); the MN learns of the soft limit from the
        // HA's REINIT_SA_WITH_HAC, so the flag is not kept here.
        var pastSoftLimit = false
        while count < batch.capacity {
            let slot = batch.buffer(count)
            guard let length = try reader.next(into: PacketPath.readArea(slot), counters: &local) else { return (count, true) }
            let payload = PacketPath.payloadOffset..<(PacketPath.payloadOffset + length)
            guard let (route, destination) = core.route(UnsafeRawBufferPointer(slot), payload: payload, counters: &local)
            else { continue }
            guard let datagram = PacketPath.seal(
                payload: payload, in: slot, destination: destination, outbound: route.outbound, scope: route.scope,
                counters: &local, pastSoftLimit: &pastSoftLimit, lanes: cryptoLanes.sending?.jobs, slotIndex: count)
            else { continue }
            if count == 0 {
                batch.prepareToSend(0, range: datagram, to: route.homeAgent, from: .unspecified)
            } else {
                batch.prepareToSend(count, range: datagram, likeSlot: 0)
            }
            local.packetsSent &+= 1
            local.octetsSent &+= UInt64(length)
            count += 1
        }
        return (count, false)
    }

    /// Seals and sends every queued Mobility Header, one datagram each.
    private func sendSignalling(_ batch: DatagramBatch, core: inout MobileNodeCore.Transmitter, counters local: inout TunnelCounters) {
        for message in outgoingSignalling.take() {
            guard let route = core.signallingRoute(counters: &local) else { continue }
            guard let datagram = PacketPath.sealMobilityHeader(message, in: batch.buffer(0), outbound: route.outbound, counters: &local)
            else { continue }
            if PacketPath.sendOne(
                batch, range: datagram, to: route.homeAgent, from: .unspecified, ipv4: ipv4, ipv6: ipv6, counters: &local)
            {
                let now = monotonicNanoseconds()
                lastSignallingSentAt.store(now, ordering: .relaxed)
                core.sent(at: now)
            }
        }
    }

    /// Sends the keepalive the core found due (none without a path).
    private func sendKeepalive(_ batch: DatagramBatch, core: inout MobileNodeCore.Transmitter, counters local: inout TunnelCounters) {
        guard core.homeAgent != nil, let route = core.signallingRoute(counters: &local) else { return }
        let outbound = route.outbound
        let slot = batch.buffer(0)
        do {
            let datagram = try outbound.sealKeepalive(in: slot, at: PacketPath.payloadOffset - outbound.suite.headroom).range
            if PacketPath.sendOne(
                batch, range: datagram, to: route.homeAgent, from: .unspecified, ipv4: ipv4, ipv6: ipv6, counters: &local)
            {
                local.keepalivesSent &+= 1
            }
        } catch {
            local.drop(.sealFailed)
        }
    }
}

/// Errors a socket reports for the network's doing (``MobileNodeEngine/transientErrors``).
private let transientSocketErrors: Set<Int32> = [ECONNREFUSED, ENETUNREACH, EHOSTUNREACH, ENETDOWN, EADDRNOTAVAIL]
