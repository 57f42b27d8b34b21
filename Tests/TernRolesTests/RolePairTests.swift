import TernDataChannel
import TernProtocol
@testable import TernRoles
import Testing

/// A Home Agent core and Mobile Node cores joined in memory (``RolePair``): what the namespace tests
/// check of the data planes' decisions, without privileges, with real SAs.
@Suite("Home Agent and Mobile Node cores joined in memory")
struct RolePairTests {
    static let laptop = 0
    static var hoa: IPAddress { RolePair.firstNode.homeAddress }

    @Test("traffic both ways, for every suite", arguments: Ciphersuite.allCases)
    func trafficBothWays(suite: Ciphersuite) throws {
        let pair = try RolePair(suite: suite)
        #expect(try pair.register(Self.laptop)?.status == .accepted)
        for length in [20, 61, 1400] {
            let up = RolePair.ipv4Packet(from: Self.hoa, to: RolePair.correspondent, length: length)
            let sent = try #require(try pair.mobileNodeSends(Self.laptop, inner: up))
            #expect(sent.octets != up, "sealed, not sent in the clear")
            #expect(try pair.homeAgentReceives(sent).inner == up, "\(suite): MN → HA, \(length) octets")

            let down = RolePair.ipv4Packet(from: RolePair.correspondent, to: Self.hoa, length: length, fill: 0x3C)
            let back = try #require(try pair.homeAgentSends(inner: down))
            #expect(back.destination == RolePair.firstNode.address)
            #expect(pair.mobileNodeReceives(Self.laptop, back) == down, "\(suite): HA → MN, \(length) octets")
        }
        #expect(pair.homeAgentCounters.dataChannelDrops.total == 0)
        #expect(pair.mobileNodes[Self.laptop].counters.dataChannelDrops.total == 0)
    }

    @Test("PType 0 under mip6-sas 0: found by the outer address of the binding, never moves it")
    func plaintextUnderSignallingOnlyScope() throws {
        let pair = try RolePair(scope: .signalingOnly)
        let up = RolePair.ipv4Packet(from: Self.hoa, to: RolePair.correspondent)
        let early = try #require(try pair.mobileNodeSends(Self.laptop, inner: up))
        #expect(try pair.homeAgentReceives(early).inner == nil, "no binding yet: no MN is known at that address")
        #expect(pair.homeAgentCounters.dropped(.unknownPlaintextSource) == 1)
        try pair.register(Self.laptop)
        #expect(try pair.homeAgentReceives(try #require(try pair.mobileNodeSends(Self.laptop, inner: up))).inner == up)
        var moved = try #require(try pair.mobileNodeSends(Self.laptop, inner: up))
        moved.source = SocketAddress(moved.source.address, port: 50_000)
        #expect(try pair.homeAgentReceives(moved).inner == nil, "PType 0 from another port is nobody's")
        #expect(pair.endpoint(Self.laptop)?.remote == RolePair.firstNode.address)
    }

    @Test("an MN that moves is followed on its first authenticated datagram from the new address")
    func mobileNodeMoves() throws {
        let pair = try RolePair()
        try pair.register(Self.laptop)
        #expect(pair.endpoint(Self.laptop)?.remote == RolePair.firstNode.address)
        #expect(pair.endpoint(Self.laptop)?.local == RolePair.homeAgentLocal, "replies leave from the address it sent to")
        let roamed = SocketAddress(.v4(IPv4Address(rawValue: 0xC633_6499)), port: 41_000)
        pair.mobileNodes[Self.laptop].address = roamed
        let up = RolePair.ipv4Packet(from: Self.hoa, to: RolePair.correspondent)
        #expect(try pair.homeAgentReceives(try #require(try pair.mobileNodeSends(Self.laptop, inner: up))).inner == up)
        #expect(pair.endpoint(Self.laptop)?.remote == roamed)
        #expect(pair.homeAgentCounters.bindingMoves == 2, "registration, then the move")
        let down = try #require(try pair.homeAgentSends(inner: RolePair.ipv4Packet(from: RolePair.correspondent, to: Self.hoa)))
        #expect(down.destination == roamed)
        guard case .bindingMoved(let name, let from, let to) = pair.homeAgentEvents.last else {
            Issue.record("no bindingMoved event: \(pair.homeAgentEvents)")
            return
        }
        #expect(name == "laptop" && from?.remote == RolePair.firstNode.address && to.remote == roamed)
    }

    @Test("a replayed datagram from another address is dropped and moves nothing; a delayed one is delivered but moves nothing")
    func replayAndDelay() throws {
        let pair = try RolePair()
        try pair.register(Self.laptop)
        let up = RolePair.ipv4Packet(from: Self.hoa, to: RolePair.correspondent)
        let delayed = try #require(try pair.mobileNodeSends(Self.laptop, inner: up))
        let captured = try #require(try pair.mobileNodeSends(Self.laptop, inner: up))
        #expect(try pair.homeAgentReceives(captured).inner == up)

        var replay = captured
        replay.source = SocketAddress(.v4(IPv4Address(rawValue: 0xCB00_71FE)), port: 666)
        #expect(try pair.homeAgentReceives(replay).inner == nil)
        #expect(pair.homeAgentCounters.dropped(.replayed) == 1)
        #expect(pair.endpoint(Self.laptop)?.remote == RolePair.firstNode.address, "a replay never moves a binding")

        var late = delayed
        late.source = replay.source
        #expect(try pair.homeAgentReceives(late).inner == up, "authentic and inside the window: delivered")
        #expect(pair.endpoint(Self.laptop)?.remote == RolePair.firstNode.address, "not the newest: moves nothing")
        #expect(try pair.homeAgentReceives(late).inner == nil, "and only once")
    }

    @Test("forged datagrams (unknown SPI, bad ICV, garbage) are dropped and move nothing")
    func forgedDatagrams() throws {
        let pair = try RolePair()
        try pair.register(Self.laptop)
        let attacker = SocketAddress(.v4(IPv4Address(rawValue: 0xCB00_71FE)), port: 666)
        let genuine = try #require(try pair.mobileNodeSends(Self.laptop, inner: RolePair.ipv4Packet(from: Self.hoa, to: RolePair.correspondent)))

        var wrongSPI = genuine
        wrongSPI.source = attacker
        wrongSPI.octets[3] ^= 0x01
        #expect(try pair.homeAgentReceives(wrongSPI).inner == nil)
        #expect(pair.homeAgentCounters.dropped(.unknownSecurityParameterIndex) == 1)

        var badICV = genuine
        badICV.source = attacker
        badICV.octets[badICV.octets.count - 1] ^= 0x80
        #expect(try pair.homeAgentReceives(badICV).inner == nil)
        #expect(pair.homeAgentCounters.dropped(.authenticationFailed) == 1)

        for garbage in [[UInt8](), [0x10], [UInt8](repeating: 0xFF, count: 40)] {
            #expect(try pair.homeAgentReceives(WireDatagram(octets: garbage, source: attacker, destination: RolePair.homeAgentAddress)).inner == nil)
        }
        #expect(pair.endpoint(Self.laptop)?.remote == RolePair.firstNode.address)
        #expect(pair.homeAgentCounters.bindingMoves == 1, "only the registration moved it")
        #expect(try pair.homeAgentReceives(genuine).inner != nil, "the forgeries did not burn the genuine datagram's number")
    }

    @Test("a second MN cannot cut off the first: its datagrams move only its own binding, and it cannot speak for the first's Home Address")
    func secondMobileNodeCannotCutOffTheFirst() throws {
        let pair = try RolePair(nodes: [RolePair.firstNode, RolePair.secondNode])
        let phone = 1
        try pair.register(Self.laptop)
        try pair.register(phone)
        // The phone, from the laptop's own address:port (a shared NAT mapping it took over), with the laptop's HoA as source.
        pair.mobileNodes[phone].address = RolePair.firstNode.address
        let spoofed = RolePair.ipv4Packet(from: Self.hoa, to: RolePair.correspondent)
        #expect(try pair.homeAgentReceives(try #require(try pair.mobileNodeSends(phone, inner: spoofed))).inner == nil)
        #expect(pair.homeAgentCounters.dropped(.spoofedInnerSource) == 1)
        #expect(pair.endpoint(Self.laptop)?.remote == RolePair.firstNode.address)
        #expect(pair.endpoint(phone)?.remote == RolePair.firstNode.address, "the phone's own binding followed it")
        // The laptop's traffic still reaches the laptop, and the phone's the phone.
        pair.mobileNodes[phone].address = RolePair.secondNode.address
        try pair.register(phone)
        let toLaptop = try #require(try pair.homeAgentSends(inner: RolePair.ipv4Packet(from: RolePair.correspondent, to: Self.hoa)))
        #expect(toLaptop.destination == RolePair.firstNode.address)
        #expect(pair.mobileNodeReceives(Self.laptop, toLaptop) != nil)
        #expect(pair.mobileNodeReceives(phone, toLaptop) == nil, "the phone cannot open the laptop's traffic")
        let toPhone = try #require(try pair.homeAgentSends(inner: RolePair.ipv4Packet(from: RolePair.correspondent, to: RolePair.secondNode.homeAddress)))
        #expect(toPhone.destination == RolePair.secondNode.address)
    }

    @Test("an inner packet from a spoofed inner source is dropped; an MN drops what is not for its Home Address or not from the HA")
    func innerAddressChecks() throws {
        let pair = try RolePair()
        try pair.register(Self.laptop)
        let spoofed = RolePair.ipv4Packet(from: .v4(IPv4Address(rawValue: 0x0A4D_00FE)), to: RolePair.correspondent)
        #expect(try pair.homeAgentReceives(try #require(try pair.mobileNodeSends(Self.laptop, inner: spoofed))).inner == nil)
        #expect(pair.homeAgentCounters.dropped(.spoofedInnerSource) == 1)

        #expect(try pair.homeAgentSends(inner: RolePair.ipv4Packet(from: RolePair.correspondent, to: .v4(IPv4Address(rawValue: 0x0A4D_00FE)))) == nil)
        #expect(pair.homeAgentCounters.dropped(.unknownHomeAddress) == 1)
        #expect(try pair.homeAgentSends(inner: [0x00, 0x01, 0x02]) == nil)
        #expect(pair.homeAgentCounters.dropped(.malformedInnerPacket) == 1)

        var fromElsewhere = try #require(try pair.homeAgentSends(inner: RolePair.ipv4Packet(from: RolePair.correspondent, to: Self.hoa)))
        fromElsewhere.source = SocketAddress(fromElsewhere.source.address, port: 7873)
        #expect(pair.mobileNodeReceives(Self.laptop, fromElsewhere) == nil)
        #expect(pair.mobileNodes[Self.laptop].counters.dropped(.notFromHomeAgent) == 1)
    }

    @Test("NAT rebinding: the BA reports NAT, and the next authenticated datagram from the new port moves the binding")
    func natRebinding() throws {
        let pair = try RolePair()
        let privateAddress = IPv4Address(rawValue: 0xC0A8_0105)  // 192.168.1.5 behind the NAT
        let acknowledgement = try #require(try pair.register(Self.laptop, careOf: privateAddress))
        #expect(acknowledgement.options.contains { if case .natDetection = $0 { true } else { false } })
        let entry = try #require(pair.bindingChanges.first?.entry, "the registration is recorded for persistence")
        #expect(entry.behindNAT)
        let rebound = SocketAddress(RolePair.firstNode.address.address, port: 61_234)
        pair.mobileNodes[Self.laptop].address = rebound
        pair.now += 30_000_000_000
        let keepalive = try #require(try pair.keepaliveIfDue(Self.laptop), "idle for longer than the keepalive interval")
        #expect(try pair.homeAgentReceives(keepalive).inner == nil)
        #expect(pair.homeAgentCounters.keepalivesReceived == 1)
        #expect(pair.endpoint(Self.laptop)?.remote == rebound, "an authenticated keepalive moves the binding too")
    }

    @Test("keepalives: due only after an idle interval, any datagram sent postpones them, the interval can shrink")
    func keepaliveSchedule() throws {
        let pair = try RolePair()
        try pair.register(Self.laptop)
        #expect(try pair.keepaliveIfDue(Self.laptop) == nil)
        pair.now += 24_000_000_000
        #expect(try pair.keepaliveIfDue(Self.laptop) == nil, "24 s: not yet")
        _ = try pair.mobileNodeSends(Self.laptop, inner: RolePair.ipv4Packet(from: Self.hoa, to: RolePair.correspondent))
        pair.now += 24_000_000_000
        #expect(try pair.keepaliveIfDue(Self.laptop) == nil, "data went out 24 s ago")
        pair.now += 1_000_000_000
        let keepalive = try #require(try pair.keepaliveIfDue(Self.laptop))
        #expect(try pair.keepaliveIfDue(Self.laptop) == nil, "once")
        try pair.homeAgentReceives(keepalive)
        #expect(pair.homeAgentCounters.keepalivesReceived == 1)
        pair.mobileNodes[Self.laptop].transmitter.setKeepaliveInterval(seconds: 5)
        #expect(pair.mobileNodes[Self.laptop].transmitter.millisecondsUntilKeepalive(at: pair.now) == 5_000)
        pair.mobileNodes[Self.laptop].transmitter.setKeepaliveInterval(seconds: 0)
        pair.now += 600_000_000_000
        #expect(try pair.keepaliveIfDue(Self.laptop) == nil, "0 turns them off")
        #expect(pair.mobileNodes[Self.laptop].transmitter.millisecondsUntilKeepalive(at: pair.now) == -1)
    }

    @Test("no binding: the HA drops downlink traffic, answers uplink with one Binding Error a second, and expires bindings")
    func bindingLifecycle() throws {
        let pair = try RolePair()
        let down = RolePair.ipv4Packet(from: RolePair.correspondent, to: Self.hoa)
        #expect(try pair.homeAgentSends(inner: down) == nil)
        #expect(pair.homeAgentCounters.dropped(.noBinding) == 1)
        let up = RolePair.ipv4Packet(from: Self.hoa, to: RolePair.correspondent)
        let first = try pair.homeAgentReceives(try #require(try pair.mobileNodeSends(Self.laptop, inner: up)))
        #expect(first.inner == up, "authentic data is delivered even without a binding")
        #expect(first.replies.count == 1)
        pair.mobileNodeReceives(Self.laptop, try #require(first.replies.first))
        let messages = try pair.mobilityMessages(Self.laptop)
        guard case .bindingError(let error)? = messages.first else {
            Issue.record("expected a Binding Error, got \(messages)")
            return
        }
        #expect(error.status == BindingError.unknownBindingForHomeAddress)
        #expect(try pair.homeAgentReceives(try #require(try pair.mobileNodeSends(Self.laptop, inner: up))).replies.isEmpty, "rate-limited")

        try pair.register(Self.laptop)
        #expect(try pair.homeAgentSends(inner: down) != nil)
        let expiry = try #require(pair.homeAgent.nextExpiry)
        pair.now = expiry
        pair.homeAgent.expire(at: pair.now, actions: &pair.homeAgentActions)
        _ = try pair.flushHomeAgentActions()
        guard case .bindingExpired(let name)? = pair.homeAgentEvents.last else {
            Issue.record("expected bindingExpired, got \(pair.homeAgentEvents)")
            return
        }
        #expect(name == "laptop")
        #expect(pair.bindingChanges.last?.entry == nil)
        #expect(try pair.homeAgentSends(inner: down) == nil)
        #expect(pair.homeAgentCounters.dropped(.noBinding) == 2)
    }

    @Test("a replayed Binding Update is dropped and moves nothing; a stale one is refused")
    func replayedBindingUpdate() throws {
        let pair = try RolePair()
        let update = try #require(try pair.bindingUpdate(Self.laptop, careOf: nil))
        try pair.homeAgentReceives(update)
        #expect(pair.endpoint(Self.laptop)?.remote == RolePair.firstNode.address)
        var replayed = update
        replayed.source = SocketAddress(.v4(IPv4Address(rawValue: 0xCB00_71FE)), port: 666)
        #expect(try pair.homeAgentReceives(replayed).replies.isEmpty)
        #expect(pair.homeAgentCounters.dropped(.replayed) == 1)
        #expect(pair.endpoint(Self.laptop)?.remote == RolePair.firstNode.address)

        // A fresh datagram carrying a Binding Update with an old Sequence #, from elsewhere: refused (135).
        pair.mobileNodes[Self.laptop].bindingUpdateSequence = 50
        pair.mobileNodes[Self.laptop].address = replayed.source
        let stale = try #require(try pair.bindingUpdate(Self.laptop, careOf: nil))
        let replies = try pair.homeAgentReceives(stale).replies
        #expect(replies.count == 1 && replies.first?.destination == replayed.source, "answered where it came from")
        pair.mobileNodeReceives(Self.laptop, try #require(replies.first))
        guard case .bindingAcknowledgement(let refusal)? = try pair.mobilityMessages(Self.laptop).first else {
            Issue.record("expected a Binding Acknowledgement")
            return
        }
        #expect(refusal.status == .sequenceNumberOutOfWindow)
        #expect(pair.endpoint(Self.laptop)?.remote == RolePair.firstNode.address, "a refused BU moves nothing")
    }

    @Test("after an unclean restart only the MN's own accepted Binding Update moves the endpoint")
    func endpointHeldAfterUncleanRestart() throws {
        var held = RolePair.firstNode
        held.holdEndpointUntilBindingUpdate = true
        let pair = try RolePair(nodes: [held])
        let up = RolePair.ipv4Packet(from: Self.hoa, to: RolePair.correspondent)
        #expect(try pair.homeAgentReceives(try #require(try pair.mobileNodeSends(Self.laptop, inner: up))).inner == up)
        #expect(pair.endpoint(Self.laptop) == nil, "data alone does not move a held endpoint")
        try pair.register(Self.laptop)
        #expect(pair.endpoint(Self.laptop)?.remote == RolePair.firstNode.address)
    }

    @Test("sequence reservations: a request when half a step is left, a stop at the grant, more after the grant")
    func sequenceReservationEvents() throws {
        var reserved = RolePair.firstNode
        reserved.sequenceReservation = (resumeAfter: 1_000, grantedThrough: 1_004)
        let pair = try RolePair(nodes: [reserved])
        try pair.register(Self.laptop)  // the BA used 1 001
        let requests = pair.homeAgentTransmitter.reservationRequests.pending
        #expect(requests.count == 1 && requests.first?.lastSent == 1_000)
        var sent = 0
        let down = RolePair.ipv4Packet(from: RolePair.correspondent, to: Self.hoa)
        for _ in 0..<10 where try pair.homeAgentSends(inner: down) != nil { sent += 1 }
        #expect(sent == 3, "1 002 ... 1 004, then the grant is the limit")
        #expect(pair.homeAgentCounters.dropped(.sequenceReservationPending) == 7)
        #expect(pair.homeAgentTransmitter.reservationRequests.pending.count == 1, "asked once per grant")
        pair.homeAgentTransmitter.reservationRequests.drain { _ in true }
        pair.homeAgent.view.table.sessions[0].grantSequenceNumbers(through: 1_004 + SendReservation.step)
        let resumed = try #require(try pair.homeAgentSends(inner: down))
        #expect(pair.mobileNodeReceives(Self.laptop, resumed) == down)
    }
}
