import TernDataChannel
import TernProtocol
import TernRoles
import TernTestSupport

/// A Mobile Node in the simulation: the real ``MobileNodeControlCore`` (its control plane) and
/// ``MobileNodeCore`` with its ``MobileNodeCore/Transmitter`` (its data plane's decisions: only the HA's
/// addresses, the SA by SPI, the inner destination, the keepalive) over the real SA halves, on a laptop
/// with two uplinks — IPv4 behind a NAT, IPv6 without — that can move between them, be rebound by
/// its NAT, be suspended, and see its clocks jump. Its clocks: monotonic time stops while suspended,
/// boot time does not (as CLOCK_MONOTONIC and CLOCK_BOOTTIME on Linux).
final class SimulatedMobileNode {
    enum Uplink: Hashable { case v4, v6 }

    static let localPort: UInt16 = 40_000
    static let internetHost = IPv4Address(198, 18, 0, 1)

    let index: Int
    let homeAgent: Int
    let homeAddress: IPv4Address
    let spi: SecurityParameterIndex
    private(set) var core: MobileNodeControlCore
    private var dataPlane: MobileNodeCore
    private var transmitter: MobileNodeCore.Transmitter
    private var actions = MobileNodeActions()
    private(set) var counters = TunnelCounters()
    private var slot = [UInt8](repeating: 0, count: 2048)
    /// The Home Agent's two service addresses.
    private let homeAgentV4: SimAddress
    private let homeAgentV6: SimAddress
    private(set) var uplink: Uplink
    /// The NAT's current mapping of this MN's IPv4 socket.
    private(set) var natPort: UInt16
    private(set) var suspended = false
    private var suspendedTotal: VirtualTime = 0
    private var bootClockAhead: VirtualTime = 0
    private(set) var packetsSent: UInt64 = 0
    private(set) var packetsReceived: UInt64 = 0
    /// The timer generation: a wake-up scheduled for an older one is stale.
    var timerGeneration: UInt64 = 0
    var timerAt: VirtualTime?

    init(
        index: Int, homeAgent: SimulatedHomeAgent, homeAddress: IPv4Address, association: SecurityAssociation,
        uplink: Uplink, natPort: UInt16, initialSequenceNumber: UInt16, at now: VirtualTime
    ) throws {
        self.index = index
        self.homeAgent = homeAgent.index
        self.homeAddress = homeAddress
        spi = association.securityParameterIndex
        homeAgentV4 = homeAgent.addressV4
        homeAgentV6 = homeAgent.addressV6
        let (outbound, inbound) = try association.makeEndpoints(for: .mobileNode)
        let associations = AssociationSource(AssociationSet(outbound: outbound, scope: association.scope, inbound: [inbound]))
        dataPlane = MobileNodeCore(
            associations: associations, homeAgents: [homeAgentV4, homeAgentV6].map { SocketAddress($0.ip, port: $0.port) },
            homeAddresses: [.v4(homeAddress)], persistsSequenceState: false)
        transmitter = dataPlane.makeTransmitter(keepaliveIntervalSeconds: 0, now: now)
        core = MobileNodeControlCore(
            binding: .init(requestedLifetimeSeconds: 120, ipv4HomeAddress: homeAddress),
            initialSequenceNumber: initialSequenceNumber, keepaliveIntervalSeconds: 0, hasController: false,
            validitySeconds: nil, at: now)
        self.uplink = uplink
        self.natPort = natPort
        _ = core.clocksRead(monotonic: now, bootTime: now)
    }

    // MARK: Addresses

    var privateV4: IPv4Address { IPv4Address(192, 168, UInt8(truncatingIfNeeded: index), 2) }
    var natPublicV4: IPv4Address { IPv4Address(198, 51, 100, UInt8(truncatingIfNeeded: 10 + index)) }
    var addressV6: IPv6Address { IPv6Address(high: 0x2001_0db8_0100_0000, low: UInt64(10 + index)) }

    /// The care-of address the MN names: its own source address on the uplink (behind NAT: private).
    var careOfAddress: IPAddress { uplink == .v4 ? .v4(privateV4) : .v6(addressV6) }
    /// Where the MN's datagrams appear to come from on the Internet, after the NAT.
    var publicAddress: SimAddress {
        uplink == .v4
            ? SimAddress(ip: .v4(natPublicV4), port: natPort) : SimAddress(ip: .v6(addressV6), port: Self.localPort)
    }

    func monotonic(_ now: VirtualTime) -> VirtualTime { now - suspendedTotal }

    // MARK: Events from the world

    func start(in world: Simulation) {
        perform(core.careOfAddressChanged(to: careOfAddress, at: monotonic(world.now)), in: world)
    }

    /// rtnetlink says the path changed: the other uplink is now the route to the HA.
    func switchUplink(in world: Simulation) {
        uplink = uplink == .v4 ? .v6 : .v4
        perform(core.careOfAddressChanged(to: careOfAddress, at: monotonic(world.now)), in: world)
    }

    /// The NAT forgot the mapping and made a new one; the MN sees nothing.
    func rebind(to port: UInt16) { natPort = port }

    func suspend() { suspended = true }

    /// The machine wakes after `duration`: monotonic time did not advance, boot time did.
    func resume(after duration: VirtualTime, switchingUplink: Bool, in world: Simulation) {
        suspended = false
        suspendedTotal += duration
        readClocks(in: world)
        if switchingUplink { switchUplink(in: world) }
    }

    /// The boot-time clock jumps ahead without a suspend (the core must take it for a resume, harmlessly).
    func jumpClock(by amount: VirtualTime, in world: Simulation) {
        bootClockAhead += amount
        readClocks(in: world)
    }

    private func readClocks(in world: Simulation) {
        let now = monotonic(world.now)
        if core.clocksRead(monotonic: now, bootTime: world.now + bootClockAhead) {
            perform(core.resumed(at: now), in: world)
        }
    }

    func timerFired(in world: Simulation) {
        guard !suspended else { return }
        readClocks(in: world)
        let now = monotonic(world.now)
        if transmitter.keepaliveDue(at: now) {
            beginBatch()
            if let route = transmitter.signallingRoute(counters: &counters) {
                transmit(seal([], type: .userData, nextHeader: NextHeader.noNextHeader, with: route.outbound), in: world)
            }
        }
        perform(core.poll(at: now, packetsSent: packetsSent, packetsReceived: packetsReceived), in: world)
    }

    /// The application sends a packet to the Internet through the tunnel.
    func sendData(tag: UInt64, in world: Simulation) {
        guard !suspended else { return }
        let packet = innerPacket(from: homeAddress, to: Self.internetHost, tag: tag)
        beginBatch()
        let route = packet.withUnsafeBytes { transmitter.route($0, payload: 0..<$0.count, counters: &counters) }
        guard let route else { return }
        let nextHeader = route.destination.isIPv4 ? NextHeader.ipv4 : NextHeader.ipv6
        guard let sealed = seal(packet, type: .userData, nextHeader: nextHeader, with: route.route.outbound) else { return }
        packetsSent &+= 1
        transmit(sealed, in: world)
    }

    /// The data plane's view for this batch: the HA address of the uplink in use, the current SA.
    private func beginBatch() {
        let homeAgent = uplink == .v4 ? homeAgentV4 : homeAgentV6
        transmitter.beginBatch(homeAgent: SocketAddress(homeAgent.ip, port: homeAgent.port))
        dataPlane.beginBatch()
    }

    func receive(_ datagram: Datagram, in world: Simulation) {
        guard !suspended, datagram.bytes.count <= slot.count else { return }
        beginBatch()
        let dropsBefore = Self.authenticationDrops(counters)
        let count = datagram.bytes.count
        slot.replaceSubrange(0..<count, with: datagram.bytes)
        let verdict = slot.withUnsafeMutableBytes { buffer in
            dataPlane.receive(
                ReceivedDatagram(
                    buffer: buffer, range: 0..<count, source: SocketAddress(datagram.from.ip, port: datagram.from.port),
                    local: LocalAddress(address: datagram.to.ip)),
                counters: &counters, actions: &actions)
        }
        if Self.authenticationDrops(counters) == dropsBefore, let header = DataChannelHeader.read(datagram.bytes) {
            world.mobileNodeAccepted(self, header.sequenceNumber, datagram)
        }
        if case .writeToTun(let payload) = verdict {
            packetsReceived &+= 1
            world.deliveredToMobileNode(Array(slot[payload]), to: self)
        }
        let headers = actions.mobilityHeaders
        actions.removeAll()
        for octets in headers { perform(core.received(mobilityHeader: octets, at: monotonic(world.now)), in: world) }
    }

    /// Drops that mean the datagram was not authenticated: the data channel refused it, or it did not
    /// come from the HA.
    private static func authenticationDrops(_ counters: TunnelCounters) -> UInt64 {
        DataChannelDropReason.allCases.reduce(counters.tunnelDrops[Int(TunnelDropReason.notFromHomeAgent.rawValue)]) {
            $0 &+ counters.dataChannelDrops[$1]
        }
    }

    // MARK: Carrying out what the core asks

    private func perform(_ actions: [MobileNodeControlAction], in world: Simulation) {
        for action in actions {
            switch action {
            case .send(let update):
                beginBatch()
                guard let route = transmitter.signallingRoute(counters: &counters) else { continue }
                let octets = MobilityHeaderCodec.encode(.bindingUpdate(update))
                transmit(seal(octets, type: .mobilityHeader, nextHeader: NextHeader.mobility, with: route.outbound), in: world)
            case .setKeepalive(let seconds):
                transmitter.setKeepaliveInterval(seconds: seconds)
            default:
                continue
            }
        }
        armTimer(in: world)
    }

    /// The next wake-up: the control core's deadline or the keepalive, whichever is first.
    private func armTimer(in world: Simulation) {
        let now = monotonic(world.now)
        let keepalive = transmitter.millisecondsUntilKeepalive(at: now)
        let keepaliveAt = keepalive < 0 ? nil : now + VirtualTime(keepalive) * millisecond
        let next = [core.nextDeadline, keepaliveAt].compactMap { $0 }.min()
        world.armTimer(of: self, at: next.map { $0 + suspendedTotal })
    }

    private func transmit(_ sealed: (bytes: [UInt8], sequenceNumber: UInt32)?, in world: Simulation) {
        guard let sealed else { return }
        transmitter.sent(at: monotonic(world.now))
        world.sealed(byHomeAgent: false, spi: spi, sealed.sequenceNumber, bytes: sealed.bytes)
        let local =
            uplink == .v4
            ? SimAddress(ip: .v4(privateV4), port: Self.localPort) : SimAddress(ip: .v6(addressV6), port: Self.localPort)
        let destination = uplink == .v4 ? homeAgentV4 : homeAgentV6
        world.send(Datagram(bytes: sealed.bytes, from: local, to: destination, provenance: .genuine))
    }
}
