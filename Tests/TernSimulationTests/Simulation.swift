import TernDataChannel
import TernProtocol
import TernTestSupport
import TernTunnel

/// One run of the world for one seed: Home Agents, Mobile Nodes, the Internet between them (delay,
/// reordering, loss, duplication, a NAT per MN), the faults, the attacker, and the oracle that checks
/// the invariants after every step (docs/simulation.md).
final class Simulation {
    enum Event {
        case deliver(Datagram)
        case mobileNodeTimer(Int, generation: UInt64)
        case mobileNodeData(Int)
        case internetData(Int)
        case persistHighWater(Int)
        case crash(Int, clean: Bool, downFor: VirtualTime)
        case restart(Int)
        case switchUplink(Int)
        case rebind(Int)
        case suspend(Int, for: VirtualTime)
        case resume(Int, after: VirtualTime)
        case clockJump(Int)
        case attack
    }

    struct Violation: Error, CustomStringConvertible {
        var seed: UInt64
        var step: Int
        var time: VirtualTime
        var invariant: String
        var detail: String
        var trace: [String]
        var description: String {
            "seed \(seed) step \(step) t=\(Double(time) / 1e9) s: \(invariant): \(detail)\n"
                + "replay: TERN_SIM_SEED=\(seed) swift test --skip-build --filter TernSimulationTests\n"
                + "last events:\n" + trace.joined(separator: "\n")
        }
    }

    /// How long a run lasts in virtual time.
    static let duration: VirtualTime = 6 * 60 * second
    /// An MN must be reachable again this long after a move, a resume or its HA's restart: the Binding
    /// Update backoff (1.5 s, then doubling to 32 s) with the loss the network may inflict (at most
    /// ``maximumConsecutiveLosses`` in a row per direction) fits well inside.
    static let reachabilityBound: VirtualTime = 100 * second
    /// The fair-loss network: at most this many datagrams in a row lost on one MN's flow per direction.
    static let maximumConsecutiveLosses = 2
    /// Datagrams the attacker remembers.
    static let captureLimit = 64
    /// No run needs more events in flight than this; more means something grows without bound.
    static let eventQueueLimit = 5_000
    /// Timer wake-ups of one MN per virtual minute beyond which its timers are spinning.
    static let timerWakeupsPerMinuteLimit = 600

    let seed: UInt64
    private(set) var statistics = Statistics()
    private(set) var now: VirtualTime = 0
    private(set) var step = 0
    var random: SeededRandom
    var queue = EventQueue()
    private(set) var homeAgents: [SimulatedHomeAgent] = []
    private(set) var mobileNodes: [SimulatedMobileNode] = []
    private var oracle = Oracle()
    /// The last events, formatted only when a run fails.
    private var recent: [(step: Int, time: VirtualTime, event: Event)?] = Array(repeating: nil, count: 30)
    /// What the attacker saw delivered (the last ``captureLimit`` datagrams).
    var captured: [Datagram] = []
    private var consecutiveLosses: [Int: Int] = [:]
    private var reachableBy: [VirtualTime?] = []
    private var timerWakeups: [Int] = []
    private(set) var violation: Violation?
    // The network's character for this seed.
    private let lossPercent: Int
    private let duplicatePercent: Int
    private let delayRange: (VirtualTime, VirtualTime)
    private let jitter: VirtualTime
    /// Why the run stopped early when it did not fail (nil: it ran to the end).
    private(set) var steps = 0

    init(seed: UInt64) throws {
        self.seed = seed
        random = SeededRandom(seed: seed)
        lossPercent = Int.random(in: 0...15, using: &random)
        duplicatePercent = Int.random(in: 0...10, using: &random)
        let base = random.between(1 * millisecond, 60 * millisecond)
        delayRange = (base, base + random.between(0, 40 * millisecond))
        jitter = random.between(0, 100 * millisecond)
        let homeAgentCount = Int.random(in: 1...2, using: &random)
        let mobileNodeCount = Int.random(in: 2...4, using: &random)
        for index in 0..<homeAgentCount { homeAgents.append(SimulatedHomeAgent(index: index)) }
        for index in 0..<mobileNodeCount {
            let homeAgent = index % homeAgentCount
            let homeAddress = IPv4Address(10, 77, 0, UInt8(2 + index))
            guard let spi = SecurityParameterIndex(rawValue: 0x1000 + UInt32(index) * 0x111) else { continue }
            let association = try SimulatedController.provision(
                mobileNode: index, spi: spi, homeAddress: homeAddress, random: &random)
            homeAgents[homeAgent].install(mobileNode: index, association: association, homeAddress: homeAddress)
            let node = try SimulatedMobileNode(
                index: index, homeAgent: homeAgents[homeAgent], homeAddress: homeAddress, association: association,
                uplink: random.chance(50) ? .v4 : .v6, natPort: UInt16.random(in: 1024...65535, using: &random),
                initialSequenceNumber: UInt16.random(in: 0...UInt16.max, using: &random), at: 0)
            mobileNodes.append(node)
        }
        for agent in homeAgents { try agent.start(at: 0) }
        reachableBy = mobileNodes.map { _ in Self.reachabilityBound }
        timerWakeups = mobileNodes.map { _ in 0 }
        scheduleFaults()
    }

    private func scheduleFaults() {
        for node in mobileNodes {
            queue.schedule(.mobileNodeData(node.index), at: random.between(0, 2 * second))
            queue.schedule(.internetData(node.index), at: random.between(1 * second, 3 * second))
            for _ in 0..<Int.random(in: 0...3, using: &random) {
                queue.schedule(.switchUplink(node.index), at: random.between(5 * second, Self.duration))
            }
            for _ in 0..<Int.random(in: 0...2, using: &random) {
                queue.schedule(.rebind(node.index), at: random.between(5 * second, Self.duration))
            }
            if random.chance(40) {
                // Suspended for up to three minutes, early enough that the bound after the resume is checked.
                queue.schedule(
                    .suspend(node.index, for: random.between(30 * second, 3 * 60 * second)),
                    at: random.between(10 * second, Self.duration - 3 * 60 * second - Self.reachabilityBound))
            }
            if random.chance(30) {
                queue.schedule(.clockJump(node.index), at: random.between(5 * second, Self.duration))
            }
        }
        for agent in homeAgents {
            queue.schedule(.persistHighWater(agent.index), at: SequenceStatePersistence.highWaterPeriod)
            if random.chance(60) {
                queue.schedule(
                    .crash(agent.index, clean: random.chance(40), downFor: random.between(1 * second, 40 * second)),
                    at: random.between(10 * second, Self.duration - 2 * Self.reachabilityBound))
            }
        }
        queue.schedule(.attack, at: random.between(1 * second, 5 * second))
    }

    // MARK: Running

    /// Runs to the end or to the first violation.
    func run() -> Violation? {
        for node in mobileNodes { node.start(in: self) }
        while violation == nil, let (time, event) = queue.next(), time <= Self.duration {
            now = time
            step += 1
            remember(event)
            handle(event)
            if violation == nil { checkInvariants() }
        }
        steps = step
        for node in mobileNodes { statistics.drops.merge(node.counters.dropsByLabel.mapKeys { "MN " + $0 }, uniquingKeysWith: +) }
        for agent in homeAgents { statistics.drops.merge(agent.counters.dropsByLabel.mapKeys { "HA " + $0 }, uniquingKeysWith: +) }
        return violation
    }

    private func handle(_ event: Event) {
        switch event {
        case .deliver(let datagram):
            deliver(datagram)
        case .mobileNodeTimer(let index, let generation):
            let node = mobileNodes[index]
            guard node.timerGeneration == generation else { return }
            node.timerAt = nil
            timerWakeups[index] += 1
            node.timerFired(in: self)
        case .mobileNodeData(let index):
            let tag = oracle.nextTag(sentBy: index)
            mobileNodes[index].sendData(tag: tag, in: self)
            queue.schedule(.mobileNodeData(index), at: now + random.between(500 * millisecond, 4 * second))
        case .internetData(let index):
            let node = mobileNodes[index]
            let tag = oracle.nextTag(sentTo: index)
            let packet = innerPacket(from: SimulatedMobileNode.internetHost, to: node.homeAddress, tag: tag)
            homeAgents[node.homeAgent].forward(packet, in: self)
            queue.schedule(.internetData(index), at: now + random.between(500 * millisecond, 4 * second))
        case .persistHighWater(let index):
            homeAgents[index].persistHighWater()
            homeAgents[index].expireBindings(at: now)
            queue.schedule(.persistHighWater(index), at: now + SequenceStatePersistence.highWaterPeriod)
        case .crash(let index, let clean, let downFor):
            homeAgents[index].crash(clean: clean)
            statistics.homeAgentRestarts += 1
            if !clean { statistics.uncleanRestarts += 1 }
            queue.schedule(.restart(index), at: now + downFor)
        case .restart(let index):
            do {
                try homeAgents[index].start(at: now)
            } catch {
                fail("HA restarts from its persisted state", "restart failed: \(error)")
            }
            oracle.homeAgentRestarted(index)
            for node in mobileNodes where node.homeAgent == index { expectReachable(node.index) }
        case .switchUplink(let index):
            guard !mobileNodes[index].suspended else { return }
            mobileNodes[index].switchUplink(in: self)
            statistics.uplinkSwitches += 1
            expectReachable(index)
        case .rebind(let index):
            mobileNodes[index].rebind(to: UInt16.random(in: 1024...65535, using: &random))
            statistics.natRebindings += 1
            expectReachable(index)
        case .suspend(let index, let duration):
            mobileNodes[index].suspend()
            statistics.suspends += 1
            reachableBy[index] = nil
            queue.schedule(.resume(index, after: duration), at: now + duration)
        case .resume(let index, let duration):
            mobileNodes[index].resume(after: duration, switchingUplink: random.chance(50), in: self)
            expectReachable(index)
        case .clockJump(let index):
            guard !mobileNodes[index].suspended else { return }
            mobileNodes[index].jumpClock(by: random.between(2 * second, 20 * second), in: self)
            statistics.clockJumps += 1
            expectReachable(index)
        case .attack:
            statistics.attacks += 1
            attack()
            queue.schedule(.attack, at: now + random.between(200 * millisecond, 6 * second))
        }
    }

    /// The end state in words: two runs of one seed must agree on it exactly.
    var fingerprint: String {
        let nodes = mobileNodes.map {
            "mn\($0.index) \($0.core.list.state) \($0.publicAddress) sent \($0.packetsSent) received \($0.packetsReceived)"
        }
        let agents = homeAgents.flatMap { agent in
            agent.sessions.map {
                "HA \(agent.index) \($0.name) → \($0.currentEndpoint().map(\.description) ?? "-") #\($0.outbound.sequenceNumber.lastSent)"
            }
        }
        return "\(step) steps; " + (nodes + agents).joined(separator: "; ")
    }

    // MARK: The network

    /// A node puts a datagram on the wire: the NAT rewrites an MN's IPv4 source; the network may lose,
    /// duplicate, delay and so reorder it.
    func send(_ datagram: Datagram) {
        var datagram = datagram
        if let node = mobileNodes.first(where: { .v4($0.privateV4) == datagram.from.ip }) {
            datagram.from = SimAddress(ip: .v4(node.natPublicV4), port: node.natPort)
        }
        if datagram.provenance == .genuine, lossPercent > 0, random.chance(lossPercent) {
            let flow = flowKey(datagram)
            let losses = consecutiveLosses[flow, default: 0]
            if losses < Self.maximumConsecutiveLosses {
                consecutiveLosses[flow] = losses + 1
                return
            }
        }
        if datagram.provenance == .genuine { consecutiveLosses[flowKey(datagram)] = 0 }
        queue.schedule(.deliver(datagram), at: now + delay())
        if datagram.provenance == .genuine, random.chance(duplicatePercent) {
            var copy = datagram
            copy.provenance = .networkCopy
            queue.schedule(.deliver(copy), at: now + delay() + random.between(0, 500 * millisecond))
        }
    }

    private func delay() -> VirtualTime { random.between(delayRange.0, delayRange.1) + random.between(0, jitter) }

    /// One flow per Mobile Node and direction (the fair-loss bound is per flow).
    private func flowKey(_ datagram: Datagram) -> Int {
        for node in mobileNodes {
            if datagram.from == node.publicAddress { return node.index * 2 }
            if datagram.to == node.publicAddress { return node.index * 2 + 1 }
        }
        return -1
    }

    private func deliver(_ datagram: Datagram) {
        if captured.count >= Self.captureLimit { captured.removeFirst() }
        captured.append(datagram)
        if let agent = homeAgents.first(where: { $0.addressV4 == datagram.to || $0.addressV6 == datagram.to }) {
            agent.receive(datagram, in: self)
            return
        }
        // The NAT passes only its current mapping; IPv6 reaches the MN directly.
        if let node = mobileNodes.first(where: { $0.publicAddress == datagram.to }) {
            node.receive(datagram, in: self)
        }
    }

    func armTimer(of node: SimulatedMobileNode, at deadline: VirtualTime?) {
        guard let deadline else { return }
        if let armed = node.timerAt, armed <= deadline, armed > now { return }
        node.timerGeneration &+= 1
        node.timerAt = max(deadline, now)
        queue.schedule(.mobileNodeTimer(node.index, generation: node.timerGeneration), at: max(deadline, now))
    }

    // MARK: What the nodes tell the oracle

    func sealed(byHomeAgent: Bool, spi: SecurityParameterIndex, _ sequenceNumber: UInt32, bytes: [UInt8]) {
        if let problem = oracle.sealed(byHomeAgent: byHomeAgent, spi: spi, sequenceNumber, bytes: bytes) {
            fail("no (key, sequence number) sealed twice", problem)
        }
    }

    func homeAgentAccepted(_ agent: SimulatedHomeAgent, spi: SecurityParameterIndex, _ sequenceNumber: UInt32, _ datagram: Datagram) {
        if let problem = oracle.homeAgentAccepted(agent.index, spi: spi, sequenceNumber, bytes: datagram.bytes) {
            fail("the HA accepts only authentic, non-replayed datagrams", problem + " (\(datagram.provenance))")
        }
    }

    func homeAgentMoved(
        _ agent: SimulatedHomeAgent, session: MobileNodeSession, to endpoint: SimAddress, by datagram: Datagram,
        sequenceNumber: UInt32
    ) {
        let index = agent.mobileNode(of: session) ?? -1
        if let problem = oracle.moved(spi: session.securityParameterIndex, sequenceNumber, bytes: datagram.bytes) {
            fail(
                "no binding moved by an unauthenticated, replayed or delayed datagram",
                "mn\(index)'s binding moved to \(endpoint) by \(datagram.provenance): \(problem)")
        }
        statistics.bindingMoves += 1
        if case .attacker = datagram.provenance { statistics.movesByAttackerCopies += 1 }
        // A move (even the attacker's first delivery of a datagram the network lost) starts the clock again.
        if mobileNodes.indices.contains(index) { expectReachable(index) }
    }

    func mobileNodeAccepted(_ node: SimulatedMobileNode, _ sequenceNumber: UInt32, _ datagram: Datagram) {
        if let problem = oracle.mobileNodeAccepted(spi: node.spi, sequenceNumber, bytes: datagram.bytes) {
            fail("the MN accepts only authentic, non-replayed datagrams", "mn\(node.index): \(problem) (\(datagram.provenance))")
        }
    }

    func deliveredToInternet(_ packet: [UInt8], by agent: SimulatedHomeAgent, session: MobileNodeSession) {
        guard let index = agent.mobileNode(of: session) else {
            return fail("no inner packet delivered from a spoofed source", "HA \(agent.index) forwarded for an unknown SA")
        }
        let node = mobileNodes[index]
        guard let tag = innerTag(packet), oracle.sender(of: tag) == node.index,
            innerAddresses(packet)?.source == .v4(node.homeAddress)
        else {
            return fail(
                "no inner packet delivered from a spoofed source", "HA \(agent.index) forwarded a packet as mn\(node.index)'s")
        }
        statistics.deliveredToInternet += 1
    }

    func deliveredToMobileNode(_ packet: [UInt8], to node: SimulatedMobileNode) {
        guard let tag = innerTag(packet), oracle.recipient(of: tag) == node.index,
            innerAddresses(packet)?.destination == .v4(node.homeAddress)
        else {
            return fail("no inner packet delivered to the wrong MN", "mn\(node.index) received a packet not meant for it")
        }
        statistics.deliveredToMobileNodes += 1
    }

    // MARK: Invariants checked after every step

    private func expectReachable(_ index: Int) {
        guard !mobileNodes[index].suspended else { return }
        reachableBy[index] = now + Self.reachabilityBound
    }

    private func checkInvariants() {
        for node in mobileNodes {
            guard let due = reachableBy[node.index], now >= due else { continue }
            reachableBy[node.index] = nil
            let agent = homeAgents[node.homeAgent]
            guard agent.running, !node.suspended else { continue }  // its restart or resume sets a new bound
            let session = agent.session(for: node.spi)
            let endpoint = session?.currentEndpoint().map { SimAddress(ip: $0.remote.address, port: $0.remote.port) }
            guard let session, endpoint == node.publicAddress, agent.cache.isLive(session.securityParameterIndex, at: now)
            else {
                return fail(
                    "every registered MN reachable again within \(Self.reachabilityBound / second) s",
                    "mn\(node.index) at \(node.publicAddress): HA \(agent.index) sends to \(endpoint.map(\.description) ?? "nowhere"), "
                        + "binding live: \(session.map { agent.cache.isLive($0.securityParameterIndex, at: now) } ?? false), "
                        + "MN state \(node.core.list.state)")
            }
            statistics.reachabilityChecks += 1
        }
        // What could grow is looked at every 64 steps (it only grows, so nothing is missed for long).
        guard step % 64 == 0 else { return }
        if queue.count > Self.eventQueueLimit {
            return fail("no state that grows without bound", "\(queue.count) events in flight")
        }
        for agent in homeAgents where agent.cache.entries.count > agent.sessions.count {
            return fail(
                "no state that grows without bound",
                "HA \(agent.index): \(agent.cache.entries.count) bindings for \(agent.sessions.count) SAs")
        }
        let minutes = Int(now / (60 * second)) + 1
        for (index, wakeups) in timerWakeups.enumerated() where wakeups > Self.timerWakeupsPerMinuteLimit * minutes {
            return fail("no state that grows without bound", "mn\(index)'s timer woke \(wakeups) times in \(minutes) min")
        }
    }

    private func fail(_ invariant: String, _ detail: String) {
        guard violation == nil else { return }
        violation = Violation(
            seed: seed, step: step, time: now, invariant: invariant, detail: detail, trace: (0..<recent.count).compactMap { recent[(step + 1 + $0) % recent.count] }.map(Self.describe))
    }

    private func remember(_ event: Event) {
        recent[step % recent.count] = (step, now, event)
    }

    private static func describe(_ entry: (step: Int, time: VirtualTime, event: Event)) -> String {
        let text: String
        switch entry.event {
        case .deliver(let datagram):
            let word = { (offset: Int) in datagram.bytes.dropFirst(offset).prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) } }
            text = "deliver \(datagram.from) → \(datagram.to) spi \(word(0) & 0x0FFF_FFFF) seq \(word(4)) (\(datagram.provenance))"
        default:
            text = "\(entry.event)"
        }
        return "  \(entry.step) t=\(Double(entry.time) / 1e9): \(text)"
    }
}
