import TernProtocol
import Testing

/// Issue 13 item 6 (b): silence from the HA, and only silence, makes the Mobile Node register again.
@Suite("HomeAgentLiveness")
struct HomeAgentLivenessTests {
    @Test("data out and nothing back for two checks → probe; data back or idle → no probe")
    func probe() {
        var liveness = HomeAgentLiveness()
        func check(_ sent: UInt64, _ received: UInt64) -> [Bool] {
            let result = liveness.check(packetsSent: sent, packetsReceived: received)
            return [result.probe, result.idle]
        }
        #expect(check(10, 10) == [false, false])
        #expect(check(20, 10) == [false, false])
        #expect(check(30, 10) == [true, false])
        #expect(check(40, 20) == [false, false], "an answer resets")
        #expect(check(40, 20) == [false, true], "idle: nothing to ask")
        #expect(check(40, 20) == [false, true])
        #expect(check(50, 20) == [false, false])
        #expect(check(60, 20) == [true, false])
    }

    @Test("the 4th Binding Update after 3 unanswered ones reports the HA lost; any answer resets")
    func unanswered() {
        var liveness = HomeAgentLiveness()
        var lost: [Bool] = []
        lost.append(liveness.bindingUpdateSent())
        lost.append(liveness.bindingUpdateSent())
        #expect(lost == [false, false])
        liveness.answered()
        lost = (0...HomeAgentLiveness.unansweredLimit).map { _ in liveness.bindingUpdateSent() }
        #expect(lost == [false, false, false, true])
        #expect(liveness.unanswered == 1, "counting starts again")
        lost = (1...HomeAgentLiveness.unansweredLimit).map { _ in liveness.bindingUpdateSent() }
        #expect(lost == [false, false, true])
    }
}
