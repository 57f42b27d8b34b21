import TernController
import TernProtocol
import Testing

@Suite("ConnectionAdmission: caps, shedding, deadlines (pure)")
struct ConnectionAdmissionTests {
    static let second: UInt64 = 1_000_000_000
    static func source(_ last: UInt8) -> ConnectionSource { .v4(IPv4Address(198, 18, 0, last)) }

    func admitted(_ decision: ConnectionAdmission.Decision) -> (ConnectionAdmission.ID, [ConnectionAdmission.Closure])? {
        if case .admit(let id, let shed) = decision { return (id, shed) }
        return nil
    }

    @Test("at the per-source cap a source sheds its own oldest unauthenticated connection, not a stranger's")
    func perSourceSheds() throws {
        var admission = ConnectionAdmission(limits: ControllerLimits(maximumConnections: 100, maximumConnectionsPerSource: 3))
        let stranger = try #require(admitted(admission.admit(Self.source(10), now: 0))).0
        let first = try #require(admitted(admission.admit(Self.source(66), now: 1))).0
        _ = admission.admit(Self.source(66), now: 2)
        _ = admission.admit(Self.source(66), now: 3)
        let (_, shed) = try #require(admitted(admission.admit(Self.source(66), now: 4)))
        #expect(shed == [.init(first, .shedSourceLimit)])
        #expect(admission.phase(of: stranger) == .awaitingFirstRecord)
        #expect(admission.count(from: Self.source(66)) == 3)
    }

    @Test("an authenticated exchange is never shed; the oldest unauthenticated one goes instead")
    func authenticatedIsKept() throws {
        var admission = ConnectionAdmission(limits: ControllerLimits(maximumConnections: 100, maximumConnectionsPerSource: 2))
        let authenticated = try #require(admitted(admission.admit(Self.source(5), now: 0))).0
        admission.advance(authenticated, to: .authenticated, now: 1)
        let second = try #require(admitted(admission.admit(Self.source(5), now: 2))).0
        let (_, shed) = try #require(admitted(admission.admit(Self.source(5), now: 3)))
        #expect(shed == [.init(second, .shedSourceLimit)])
        #expect(admission.phase(of: authenticated) == .authenticated)
    }

    @Test("when every connection of the source has authenticated, the new one is refused")
    func refusedWhenAllAuthenticated() throws {
        var admission = ConnectionAdmission(limits: ControllerLimits(maximumConnections: 100, maximumConnectionsPerSource: 1))
        let id = try #require(admitted(admission.admit(Self.source(5), now: 0))).0
        admission.advance(id, to: .authenticated, now: 0)
        #expect(admission.admit(Self.source(5), now: 1) == .refuse(.sourceLimit))
    }

    @Test("at the global cap the heaviest source loses its oldest unauthenticated connection")
    func globalShedsHeaviest() throws {
        var admission = ConnectionAdmission(limits: ControllerLimits(maximumConnections: 5, maximumConnectionsPerSource: 5))
        let light = try #require(admitted(admission.admit(Self.source(1), now: 0))).0
        let heavyOldest = try #require(admitted(admission.admit(Self.source(2), now: 1))).0
        for time in 2...4 { _ = admission.admit(Self.source(2), now: UInt64(time)) }
        #expect(admission.count == 5)
        let (_, shed) = try #require(admitted(admission.admit(Self.source(3), now: 5)))
        #expect(shed == [.init(heavyOldest, .shedGlobalLimit)])
        #expect(admission.phase(of: light) == .awaitingFirstRecord)
        #expect(admission.count == 5)
    }

    @Test("IPv6 sources count per /64; IPv4-mapped addresses as IPv4")
    func ipv6Prefix() throws {
        let a = ConnectionSource(try #require(IPAddress("2001:db8:1:2::1")))
        let b = ConnectionSource(try #require(IPAddress("2001:db8:1:2:ffff::9")))
        let c = ConnectionSource(try #require(IPAddress("2001:db8:1:3::1")))
        #expect(a == b && a != c)
        #expect(a.description == "2001:db8:1:2::/64")
        #expect(ConnectionSource(try #require(IPAddress("::ffff:198.18.0.7"))) == Self.source(7))
    }

    @Test("each phase has its deadline from accept; authentication gets the linger time from then")
    func deadlines() throws {
        let limits = ControllerLimits(firstRecordSeconds: 2, handshakeSeconds: 5, exchangeSeconds: 10)
        var admission = ConnectionAdmission(limits: limits)
        let idle = try #require(admitted(admission.admit(Self.source(1), now: 0))).0
        let slow = try #require(admitted(admission.admit(Self.source(2), now: 0))).0
        let exchanging = try #require(admitted(admission.admit(Self.source(3), now: 0))).0
        let done = try #require(admitted(admission.admit(Self.source(4), now: 0))).0
        admission.advance(slow, to: .handshaking, now: Self.second)
        admission.advance(exchanging, to: .exchanging, now: Self.second)
        admission.advance(done, to: .authenticated, now: 9 * Self.second)
        // Backwards moves are ignored.
        admission.advance(exchanging, to: .handshaking, now: Self.second)
        var result = admission.expire(now: 2 * Self.second - 1)
        #expect(result.expired.isEmpty && result.next == 2 * Self.second)
        result = admission.expire(now: 2 * Self.second)
        #expect(result.expired == [.init(idle, .firstRecordTimeout)])
        result = admission.expire(now: 5 * Self.second)
        #expect(result.expired == [.init(slow, .handshakeTimeout)])
        result = admission.expire(now: 10 * Self.second)
        #expect(result.expired == [.init(exchanging, .exchangeTimeout), .init(done, .lingerTimeout)])
        #expect(admission.count == 0 && result.next == nil)
    }

    @Test("a flood of 10,000 from 100 sources leaves a stranger's connection standing")
    func floodLeavesStranger() throws {
        var admission = ConnectionAdmission(limits: ControllerLimits())
        var time: UInt64 = 0
        for round in 0..<100 {
            for source in 0..<100 { _ = admission.admit(Self.source(UInt8(source)), now: time); time += 1 }
            if round == 50 {
                let mobileNode = ConnectionSource.v4(IPv4Address(203, 0, 113, 5))
                let id = try #require(admitted(admission.admit(mobileNode, now: time))).0
                admission.advance(id, to: .exchanging, now: time)
                #expect(admission.phase(of: id) == .exchanging)
            }
        }
        #expect(admission.count(from: .v4(IPv4Address(203, 0, 113, 5))) == 1)
        #expect(admission.count <= ControllerLimits.defaultMaximumConnections)
    }
}
