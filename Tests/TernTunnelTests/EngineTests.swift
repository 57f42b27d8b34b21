import TernDataChannel
import TernOS
import TernProtocol
@testable import TernTunnel
import TernTestSupport
import Testing

/// The real Home Agent and Mobile Node data planes — their threads, batches, crypto lanes and polls —
/// over in-memory TUN devices and an in-memory network (Tests/TernTestSupport/MemoryNetwork.swift): no
/// privileges, no namespaces. Every wait is bounded; every thread is stopped.
@Suite("Engines: the data planes over in-memory devices", .serialized)
struct EngineTests {
    typealias HomeAgent = HomeAgentEngine<MemoryPacketDevice, MemoryTransport>
    typealias MobileNode = MobileNodeEngine<MemoryPacketDevice, MemoryTransport>

    static let homeAgentAddress = SocketAddress(.v4(IPv4Address(rawValue: 0xC000_0201)), port: 7872)  // 192.0.2.1
    static let careOf = SocketAddress(.v4(IPv4Address(rawValue: 0xC633_6407)), port: 40_000)  // 198.51.100.7
    static let roamed = SocketAddress(.v4(IPv4Address(rawValue: 0xCB00_7163)), port: 41_000)  // 203.0.113.99
    static let homeAddress: IPAddress = .v4(IPv4Address(rawValue: 0x0A63_0002))  // 10.99.0.2
    static let correspondent: IPAddress = .v4(IPv4Address(rawValue: 0xCB00_7109))  // 203.0.113.9
    /// How long a test waits for one packet before it fails.
    static let waitMilliseconds: Int32 = 5_000

    /// Both engines on one in-memory network, started; `stop()` joins every thread.
    final class Pair {
        let network = MemoryNetwork()
        let homeAgentTun: MemoryPacketDevice
        let mobileNodeTun: MemoryPacketDevice
        let homeAgentSocket: MemoryTransport
        let mobileNodeSocket: MemoryTransport
        let homeAgent: HomeAgent
        let mobileNode: MobileNode

        init(cryptoThreads: Int) throws {
            homeAgentTun = try MemoryPacketDevice()
            mobileNodeTun = try MemoryPacketDevice()
            homeAgentSocket = try network.transport(at: EngineTests.homeAgentAddress)
            mobileNodeSocket = try network.transport(at: EngineTests.careOf)
            let association = try EngineTests.association()
            homeAgent = try HomeAgent(
                tun: homeAgentTun, ipv4: homeAgentSocket, ipv6: nil, mtu: 1400,
                mobileNodes: [HomeAgentMobileNode(name: "laptop", association: association, homeAddresses: [EngineTests.homeAddress])],
                cryptoThreads: cryptoThreads, events: { _ in })
            mobileNode = try MobileNode(
                tun: mobileNodeTun, ipv4: mobileNodeSocket, ipv6: nil, homeAgents: [EngineTests.homeAgentAddress],
                mtu: 1400, association: association, homeAddresses: [EngineTests.homeAddress], keepaliveIntervalSeconds: 0,
                cryptoThreads: cryptoThreads, events: { _ in })
            try homeAgent.start()
            do {
                try mobileNode.start()
            } catch {
                homeAgent.stop()
                throw error
            }
            mobileNode.useHomeAgent(0)
        }

        func stop() {
            mobileNode.stop()
            homeAgent.stop()
        }

        /// Sends a Binding Update (A and H, naming the MN's address now) and waits for its Binding
        /// Acknowledgement, as the control plane would.
        func register(sequenceNumber: UInt16) -> BindingAcknowledgement? {
            guard case .v4(let careOf) = mobileNodeSocket.address.address else { return nil }
            let update = BindingUpdate(
                sequenceNumber: sequenceNumber, flags: [.acknowledge, .homeRegistration], lifetimeUnits: 15,
                options: [.ipv4CareOfAddress(careOf)])
            guard mobileNode.send(mobilityHeader: MobilityHeaderCodec.encode(.bindingUpdate(update))) else { return nil }
            let poller = Poller([mobileNode.incomingSignalling.notifier.descriptor.rawValue])
            for _ in 0..<(EngineTests.waitMilliseconds / 10) {
                _ = try? poller.wait(timeoutMilliseconds: 10)
                for octets in mobileNode.incomingSignalling.take() {
                    if case .bindingAcknowledgement(let acknowledgement)? = try? MobilityHeaderCodec.decode(octets) {
                        return acknowledgement
                    }
                }
            }
            return nil
        }

        /// Injects `count` packets into `from` and returns those that came out of `to`, in order.
        func carry(_ packets: [[UInt8]], from: MemoryPacketDevice, to: MemoryPacketDevice) -> [[UInt8]] {
            for packet in packets { from.inject(packet) }
            var arrived: [[UInt8]] = []
            while arrived.count < packets.count, let packet = to.written.pop(waitingMilliseconds: EngineTests.waitMilliseconds) {
                arrived.append(packet)
            }
            return arrived
        }
    }

    @Test("TUN → MN → HA → TUN and back, in bursts, then again after the MN moved", arguments: [1, 2])
    func trafficBothWaysAndAMove(cryptoThreads: Int) throws {
        let pair = try Pair(cryptoThreads: cryptoThreads)
        defer { pair.stop() }
        #expect(pair.register(sequenceNumber: 1)?.status == .accepted)
        #expect(pair.homeAgent.bindings().first?.endpoint?.remote == Self.careOf)

        // A burst larger than one batch (64 slots), of several lengths, so that the lanes get work.
        let up = (0..<150).map { Self.ipv4Packet(from: Self.homeAddress, to: Self.correspondent, length: 40 + $0 * 9, fill: UInt8($0)) }
        #expect(pair.carry(up, from: pair.mobileNodeTun, to: pair.homeAgentTun) == up, "MN → HA, every packet, in order")
        let down = (0..<150).map { Self.ipv4Packet(from: Self.correspondent, to: Self.homeAddress, length: 1400 - $0 * 7, fill: UInt8($0)) }
        #expect(pair.carry(down, from: pair.homeAgentTun, to: pair.mobileNodeTun) == down, "HA → MN, every packet, in order")

        // The MN moves: its next authenticated datagram, from the new address, moves the binding.
        pair.mobileNodeSocket.move(to: Self.roamed)
        let afterMove = [Self.ipv4Packet(from: Self.homeAddress, to: Self.correspondent, length: 100, fill: 0x77)]
        #expect(pair.carry(afterMove, from: pair.mobileNodeTun, to: pair.homeAgentTun) == afterMove)
        #expect(pair.homeAgent.bindings().first?.endpoint?.remote == Self.roamed)
        let back = [Self.ipv4Packet(from: Self.correspondent, to: Self.homeAddress, length: 200, fill: 0x88)]
        #expect(pair.carry(back, from: pair.homeAgentTun, to: pair.mobileNodeTun) == back, "sent to the new address")
        #expect(pair.register(sequenceNumber: 2)?.status == .accepted, "registers from the new address too")

        pair.stop()
        let homeAgent = pair.homeAgent.statistics()
        let mobileNode = pair.mobileNode.statistics()
        #expect(homeAgent.dataChannelDrops.total == 0 && mobileNode.dataChannelDrops.total == 0)
        #expect(homeAgent.packetsReceived == 151 && homeAgent.packetsSent == 151)
        #expect(mobileNode.packetsReceived == 151 && mobileNode.packetsSent == 151)
        #expect(pair.network.unroutableCount == 0)
    }

    @Test("an HA → MN packet for a Home Address nobody registered is dropped, never sent")
    func unknownHomeAddressIsDropped() throws {
        let pair = try Pair(cryptoThreads: 1)
        defer { pair.stop() }
        #expect(pair.register(sequenceNumber: 1)?.status == .accepted)
        let stranger: IPAddress = .v4(IPv4Address(rawValue: 0x0A63_0099))
        pair.homeAgentTun.inject(Self.ipv4Packet(from: Self.correspondent, to: stranger))
        let known = [Self.ipv4Packet(from: Self.correspondent, to: Self.homeAddress)]
        #expect(pair.carry(known, from: pair.homeAgentTun, to: pair.mobileNodeTun) == known, "only the known one arrives")
        pair.stop()
        #expect(pair.homeAgent.statistics().tunnelDrops[Int(TunnelDropReason.unknownHomeAddress.rawValue)] == 1)
    }

    // MARK: Fixtures

    static func association() throws -> SecurityAssociation {
        let suite = Ciphersuite.default
        func keys(_ seed: UInt8) throws -> DirectionalKeys {
            try DirectionalKeys(
                suite: suite, encryptionKey: (0..<suite.encryptionKeyLength).map { UInt8(truncatingIfNeeded: Int(seed) &+ $0 &* 7) },
                integrityKey: (0..<suite.integrityKeyLength).map { UInt8(truncatingIfNeeded: Int(seed) &+ $0 &* 13) })
        }
        let spi = try #require(SecurityParameterIndex(rawValue: 0x1234))
        return SecurityAssociation(
            securityParameterIndex: spi, suite: suite, scope: .allTraffic, mobileNodeToHomeAgent: try keys(1),
            homeAgentToMobileNode: try keys(2))
    }

    static func ipv4Packet(from source: IPAddress, to destination: IPAddress, length: Int = 60, fill: UInt8 = 0xA5) -> [UInt8] {
        ipv4TestPacket(from: source, to: destination, length: length, fill: fill)
    }
}
