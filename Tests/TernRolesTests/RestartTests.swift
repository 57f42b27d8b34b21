import TernDataChannel
import TernProtocol
@testable import TernRoles
import Testing

/// A Home Agent core restarted from what its state thread persisted (docs/tunnel.md, Restarts), with
/// the Mobile Node's core running on: what RestartReplayTests checks in namespaces, in memory.
@Suite("Home Agent core restarted from its persisted state")
struct RestartTests {
    static var hoa: IPAddress { RolePair.firstNode.homeAddress }

    @Test("the restarted HA refuses every datagram of before the stop, and a replay of one moves nothing")
    func replaysAcrossRestartAreRefused() throws {
        var reserved = RolePair.firstNode
        reserved.sequenceReservation = (resumeAfter: 0, grantedThrough: SendReservation.step)
        let pair = try RolePair(nodes: [reserved])
        try pair.register(0)
        let up = RolePair.ipv4Packet(from: Self.hoa, to: RolePair.correspondent)
        var captured: [WireDatagram] = []
        for _ in 0..<5 {
            let datagram = try #require(try pair.mobileNodeSends(0, inner: up))
            #expect(try pair.homeAgentReceives(datagram).inner == up)
            captured.append(datagram)
        }
        try pair.restartHomeAgent([pair.persisted(0, cleanStop: true)])
        let attacker = SocketAddress(.v4(IPv4Address(rawValue: 0xCB00_71FE)), port: 666)
        for var replay in captured {
            replay.source = attacker
            #expect(try pair.homeAgentReceives(replay).inner == nil)
        }
        #expect(pair.homeAgentCounters.packetsReceived == 0)
        #expect(pair.homeAgentCounters.dropped(.tooOld) + pair.homeAgentCounters.dropped(.replayed) == 5)
        #expect(pair.endpoint(0) == nil, "nothing replayed moved the restored session's endpoint")
        #expect(try pair.homeAgentReceives(try #require(try pair.mobileNodeSends(0, inner: up))).inner == up, "new datagrams pass")
    }

    @Test("the restarted HA never reuses a sequence number: the MN accepts what it sends after the restart")
    func noSequenceNumberReuse() throws {
        var reserved = RolePair.firstNode
        reserved.sequenceReservation = (resumeAfter: 0, grantedThrough: SendReservation.step)
        let pair = try RolePair(nodes: [reserved])
        try pair.register(0)
        let down = RolePair.ipv4Packet(from: RolePair.correspondent, to: Self.hoa)
        for _ in 0..<3 { #expect(pair.mobileNodeReceives(0, try #require(try pair.homeAgentSends(inner: down))) == down) }
        try pair.restartHomeAgent([pair.persisted(0, cleanStop: false)])
        try pair.register(0)
        let after = try #require(try pair.homeAgentSends(inner: down))
        let sequence = after.octets[4...7].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        #expect(sequence > SendReservation.step, "resumed past the persisted reservation")
        #expect(pair.mobileNodeReceives(0, after) == down, "the MN's replay window accepts it")
        #expect(pair.mobileNodes[0].counters.dataChannelDrops.total == 0)
    }

    @Test("after an unclean stop data does not move the endpoint; the MN's Binding Update does")
    func uncleanStopHoldsTheEndpoint() throws {
        var reserved = RolePair.firstNode
        reserved.sequenceReservation = (resumeAfter: 0, grantedThrough: SendReservation.step)
        let pair = try RolePair(nodes: [reserved])
        try pair.register(0)
        try pair.restartHomeAgent([pair.persisted(0, cleanStop: false)])
        pair.mobileNodes[0].address = SocketAddress(.v4(IPv4Address(rawValue: 0xC633_6499)), port: 41_000)
        let up = RolePair.ipv4Packet(from: Self.hoa, to: RolePair.correspondent)
        let first = try pair.homeAgentReceives(try #require(try pair.mobileNodeSends(0, inner: up)))
        #expect(first.inner == up)
        #expect(pair.endpoint(0) == nil, "held until the MN's own Binding Update")
        #expect(first.replies.count == 1, "a Binding Error asks the MN to register at once")
        try pair.register(0)
        #expect(pair.endpoint(0)?.remote == pair.mobileNodes[0].address)
    }
}
