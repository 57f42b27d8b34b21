import TernDataChannel
import TernProtocol
@testable import TernRoles
import Testing

/// The cores across an SA's life: make before break (two SAs for one Home Address) and the HA's request
/// for a new SA (REINIT_SA_WITH_HAC, DESIGN.md).
@Suite("Role cores across SA switches")
struct SecurityAssociationSwitchTests {
    @Test("make before break: the HA keeps sending under the old SA until the MN registers under the new one; the MN opens both")
    func makeBeforeBreak() throws {
        var renewed = RolePair.firstNode
        renewed.spi = 0x9999
        renewed.name = "laptop"
        let pair = try RolePair(nodes: [RolePair.firstNode, renewed])
        let (old, new) = (0, 1)
        try pair.register(old)
        let down = RolePair.ipv4Packet(from: RolePair.correspondent, to: RolePair.firstNode.homeAddress)
        let underOld = try #require(try pair.homeAgentSends(inner: down))
        #expect(underOld.octets.prefix(4) == [0x10, 0x00, 0x12, 0x34], "PType 1, the old SPI: the new SA has no binding yet")

        // The MN after installing the new SA: sends under it, still opens the old one.
        let (_, oldInbound) = try RolePair.association(spi: 0x1234, suite: .default, scope: .allTraffic)
            .makeEndpoints(for: .mobileNode)
        let (newOutbound, newInbound) = try RolePair.association(spi: 0x9999, suite: .default, scope: .allTraffic)
            .makeEndpoints(for: .mobileNode)
        var switching = MobileNodeCore(
            associations: AssociationSource(AssociationSet(outbound: newOutbound, scope: .allTraffic, inbound: [newInbound, oldInbound])),
            homeAgents: [RolePair.homeAgentAddress], homeAddresses: [RolePair.firstNode.homeAddress], persistsSequenceState: false)
        #expect(receive(underOld, by: &switching) == down, "in flight under the old SA: still opened")

        try pair.register(new)
        let underNew = try #require(try pair.homeAgentSends(inner: down))
        #expect(underNew.octets.prefix(4) == [0x10, 0x00, 0x99, 0x99], "the newest SA with a live binding")
        #expect(receive(underNew, by: &switching) == down)
    }

    @Test("in the last tenth of its validity the HA answers a Binding Update with 176 and binds nothing")
    func reinitializeNearValidityEnd() throws {
        var ending = RolePair.firstNode
        let pair0 = try RolePair()
        ending.validity = (issuedAt: pair0.wallClock - 950, end: pair0.wallClock + 50)
        let pair = try RolePair(nodes: [ending])
        let acknowledgement = try #require(try pair.register(0))
        #expect(acknowledgement.status == .reinitializeSecurityAssociationWithHAC)
        #expect(try pair.homeAgentSends(inner: RolePair.ipv4Packet(from: RolePair.correspondent, to: ending.homeAddress)) == nil)
        #expect(pair.homeAgentCounters.dropped(.noBinding) == 1)

        var fresh = RolePair.firstNode
        fresh.validity = (issuedAt: pair0.wallClock - 10, end: pair0.wallClock + 990)
        #expect(try RolePair(nodes: [fresh]).register(0)?.status == .accepted, "early in its validity: accepted")
    }

    private func receive(_ datagram: WireDatagram, by core: inout MobileNodeCore) -> [UInt8]? {
        var octets = datagram.octets
        var counters = TunnelCounters()
        var actions = MobileNodeActions()
        return octets.withUnsafeMutableBytes { buffer in
            core.beginBatch()
            let received = ReceivedDatagram(buffer: buffer, range: 0..<buffer.count, source: datagram.source, local: .unspecified)
            guard case .writeToTun(let payload) = core.receive(received, counters: &counters, actions: &actions) else { return nil }
            return Array(buffer[payload])
        }
    }
}
