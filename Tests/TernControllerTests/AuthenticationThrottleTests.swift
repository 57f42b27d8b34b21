import TernController
import TernProtocol
import Testing

@Suite("AuthenticationThrottle and RetryAfter: PSK guessing backs off, the real MN is not locked out (pure)")
struct AuthenticationThrottleTests {
    static let attacker = ConnectionSource.v4(IPv4Address(198, 18, 0, 99))
    static let laptop = ConnectionSource.v4(IPv4Address(198, 18, 0, 10))
    static let other = ConnectionSource.v4(IPv4Address(198, 18, 0, 77))

    @Test("per (identity, source): free failures, then refusals that double, up to the maximum")
    func pairBacksOff() {
        var throttle = AuthenticationThrottle()
        var now = 1000.0
        for _ in 0..<4 {
            #expect(throttle.verdict(identity: "laptop", source: Self.attacker, now: now) == .evaluate(delayFailureSeconds: 0))
            throttle.recordFailure(identity: "laptop", source: Self.attacker, now: now)
        }
        #expect(throttle.verdict(identity: "laptop", source: Self.attacker, now: now) == .refuse(retryAfterSeconds: 2))
        now += 2
        #expect(throttle.verdict(identity: "laptop", source: Self.attacker, now: now) == .evaluate(delayFailureSeconds: 0))
        throttle.recordFailure(identity: "laptop", source: Self.attacker, now: now)
        #expect(throttle.verdict(identity: "laptop", source: Self.attacker, now: now) == .refuse(retryAfterSeconds: 4))
        for _ in 0..<20 {
            now += 100
            throttle.recordFailure(identity: "laptop", source: Self.attacker, now: now)
        }
        #expect(throttle.verdict(identity: "laptop", source: Self.attacker, now: now) == .refuse(retryAfterSeconds: 300))
    }

    @Test("per source, across identities: spraying many identities is refused too")
    func sourceBacksOff() {
        var throttle = AuthenticationThrottle()
        for index in 0..<10 { throttle.recordFailure(identity: "user\(index)", source: Self.attacker, now: 0) }
        #expect(throttle.verdict(identity: "fresh", source: Self.attacker, now: 0) == .evaluate(delayFailureSeconds: 0))
        throttle.recordFailure(identity: "user10", source: Self.attacker, now: 0)
        #expect(throttle.verdict(identity: "fresh", source: Self.attacker, now: 0) == .refuse(retryAfterSeconds: 2))
        #expect(throttle.verdict(identity: "fresh", source: Self.other, now: 0) == .evaluate(delayFailureSeconds: 0))
    }

    @Test("an attacker elsewhere only slows the identity's failures: the real MN is evaluated, never refused")
    func noLockout() {
        var throttle = AuthenticationThrottle()
        for step in 0..<200 { throttle.recordFailure(identity: "laptop", source: Self.attacker, now: Double(step)) }
        // A source that never failed: evaluated; its failure would wait (soft), its success would not.
        #expect(throttle.verdict(identity: "laptop", source: Self.laptop, now: 200) == .evaluate(delayFailureSeconds: 4))
        throttle.recordSuccess(identity: "laptop", source: Self.laptop, now: 200)
        #expect(throttle.verdict(identity: "laptop", source: Self.laptop, now: 201) == .evaluate(delayFailureSeconds: 0))
    }

    @Test("a source that succeeded for an identity before is never refused for it, even after its own failures")
    func trustedSource() {
        var throttle = AuthenticationThrottle()
        throttle.recordSuccess(identity: "laptop", source: Self.laptop, now: 0)
        for step in 0..<50 { throttle.recordFailure(identity: "laptop", source: Self.laptop, now: Double(step)) }
        guard case .evaluate = throttle.verdict(identity: "laptop", source: Self.laptop, now: 50) else {
            Issue.record("a trusted source was refused")
            return
        }
        // Another identity from the same source is refused (the source failed 50 times).
        guard case .refuse = throttle.verdict(identity: "desktop", source: Self.laptop, now: 50) else {
            Issue.record("the source's failures did not count")
            return
        }
    }

    @Test("failures are forgotten after the quiet period")
    func forgets() {
        var throttle = AuthenticationThrottle()
        for _ in 0..<20 { throttle.recordFailure(identity: "laptop", source: Self.attacker, now: 0) }
        #expect(throttle.verdict(identity: "laptop", source: Self.attacker, now: 901) == .evaluate(delayFailureSeconds: 0))
    }

    @Test("RetryAfter waits until the date plus a second, within the budget")
    func retryAfter() {
        let date = HTTPDate(secondsSince1970: 1_000_010)!
        #expect(RetryAfter.wait(until: date, now: 1_000_000, waited: 0, budget: 60) == 11)
        #expect(RetryAfter.wait(until: date, now: 1_000_020, waited: 0, budget: 60) == 1)
        #expect(RetryAfter.wait(until: date, now: 1_000_000, waited: 50, budget: 60) == nil)
        #expect(RetryAfter.wait(until: HTTPDate(secondsSince1970: 2_000_000)!, now: 1_000_000, waited: 0, budget: 60) == nil)
    }
}
