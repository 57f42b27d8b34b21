import TernDataChannel
import TernProtocol
import TernRoles

/// A Mobile Node in the simulation: the real ``MobileNodeControlCore`` and the real SA halves, on a
/// laptop with two uplinks — IPv4 behind a NAT, IPv6 without — that can move between them, be rebound by
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
    let outbound: OutboundSecurityAssociation
    let inbound: InboundSecurityAssociation
    private(set) var core: MobileNodeControlCore
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
        index: Int, homeAgent: Int, homeAddress: IPv4Address, association: SecurityAssociation, uplink: Uplink,
        natPort: UInt16, initialSequenceNumber: UInt16, at now: VirtualTime
    ) throws {
        self.index = index
        self.homeAgent = homeAgent
        self.homeAddress = homeAddress
        spi = association.securityParameterIndex
        (outbound, inbound) = try association.makeEndpoints(for: .mobileNode)
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
        perform(core.poll(at: now, packetsSent: packetsSent, packetsReceived: packetsReceived), in: world)
    }

    /// The application sends a packet to the Internet through the tunnel.
    func sendData(tag: UInt64, in world: Simulation) {
        guard !suspended else { return }
        let packet = innerPacket(from: homeAddress, to: Self.internetHost, tag: tag)
        guard let sealed = seal(packet, type: .userData, nextHeader: NextHeader.ipv4, with: outbound) else { return }
        packetsSent &+= 1
        transmit(sealed, in: world)
    }

    func receive(_ datagram: Datagram, in world: Simulation) {
        guard !suspended, let (opened, payload) = open(datagram.bytes, with: inbound) else { return }
        world.mobileNodeAccepted(self, opened.sequenceNumber, datagram)
        switch opened.kind {
        case .mobilityHeader:
            perform(core.received(mobilityHeader: payload, at: monotonic(world.now)), in: world)
        case .ipv4, .ipv6:
            packetsReceived &+= 1
            world.deliveredToMobileNode(payload, to: self)
        case .keepalive:
            break
        }
    }

    // MARK: Carrying out what the core asks

    private func perform(_ actions: [MobileNodeControlAction], in world: Simulation) {
        for action in actions {
            guard case .send(let update) = action else { continue }
            let octets = MobilityHeaderCodec.encode(.bindingUpdate(update))
            guard let sealed = seal(octets, type: .mobilityHeader, nextHeader: NextHeader.mobility, with: outbound)
            else { continue }
            transmit(sealed, in: world)
        }
        world.armTimer(of: self, at: core.nextDeadline.map { $0 + suspendedTotal })
    }

    private func transmit(_ sealed: (bytes: [UInt8], sequenceNumber: UInt32), in world: Simulation) {
        world.sealed(byHomeAgent: false, spi: spi, sealed.sequenceNumber, bytes: sealed.bytes)
        let homeAgent = world.homeAgents[homeAgent]
        let local =
            uplink == .v4
            ? SimAddress(ip: .v4(privateV4), port: Self.localPort) : SimAddress(ip: .v6(addressV6), port: Self.localPort)
        let destination = uplink == .v4 ? homeAgent.addressV4 : homeAgent.addressV6
        world.send(Datagram(bytes: sealed.bytes, from: local, to: destination, provenance: .genuine))
    }
}
