import Foundation
import TernProtocol
import TernStore
import Testing

@Suite("The store's receive high-water marks and clean-stop marker (migration v3-receive-high-water)")
struct ReceiveHighWaterTests {
    @Test("marks persist per SA and never go down; the stop marker says how the last run ended")
    func marks() throws {
        let store = try HomeAgentControllerStore()
        try store.addMobileNode(identity: "m@x", preSharedKey: [1], at: 0)
        var next: UInt8 = 1
        let sa = try store.issueSecurityAssociation(
            for: "m@x", suite: .aes128GCMSHA256, scope: .allTraffic, validity: 100, now: 0,
            random: { count in (0..<count).map { _ in defer { next &+= 1 }; return next } })
        #expect(try store.liveSecurityAssociations(at: 1, grace: 0).first?.receivedHighest == 0, "a new SA")
        try store.saveReceivedHighWater([(sa.securityParameterIndex, 9000)])
        try store.saveReceivedHighWater([(sa.securityParameterIndex, 12), (0xdead, 5)])
        #expect(try store.liveSecurityAssociations(at: 1, grace: 0).first?.receivedHighest == 9000)

        #expect(try store.previousStopWasClean() == false, "nothing recorded: not known to be clean")
        try store.recordStop(clean: true)
        #expect(try store.previousStopWasClean())
        try store.recordStop(clean: false)
        #expect(try store.previousStopWasClean() == false)
    }
}
