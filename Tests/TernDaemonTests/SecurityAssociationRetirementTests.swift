import TernDaemon
import TernProtocol
import TernStore
import Testing

@Suite("SA retirement: the schedule and which SAs a switch retires (make before break)")
struct SecurityAssociationRetirementTests {
    let a = SecurityParameterIndex(rawValue: 0x1000)!
    let b = SecurityParameterIndex(rawValue: 0x2000)!
    let c = SecurityParameterIndex(rawValue: 0x3000)!

    @Test("entries come out when due, earliest first, and only once")
    func dueOrder() {
        var schedule = RetirementSchedule()
        #expect(schedule.nextDue == nil)
        schedule.add(a, of: "one", after: 60, now: 1_000)
        schedule.add(b, of: "two", after: 10, now: 1_000)
        schedule.add(c, of: "three", after: 0, now: 1_000)
        #expect(schedule.nextDue == 1_000)
        #expect(schedule.takeDue(at: 1_000).map(\.spi) == [c])
        #expect(schedule.nextDue == 1_000 + 10_000_000_000)
        #expect(schedule.takeDue(at: 1_000 + 9_999_999_999).isEmpty, "not yet")
        #expect(schedule.takeDue(at: 1_000 + 60_000_000_000).map(\.spi) == [b, a])
        #expect(schedule.takeDue(at: .max).isEmpty)
        #expect(schedule.nextDue == nil)
    }

    @Test("a negative, NaN or huge delay neither traps nor overflows")
    func hostileDelays() {
        var schedule = RetirementSchedule()
        schedule.add(a, of: "one", after: -5, now: 7)
        schedule.add(b, of: "one", after: .nan, now: 7)
        schedule.add(c, of: "one", after: .infinity, now: 7)
        #expect(schedule.entries.map(\.due) == [7, 7, 7 + UInt64(RetirementSchedule.maximumDelaySeconds * 1e9)])
        var late = RetirementSchedule()
        late.add(a, of: "one", after: RetirementSchedule.maximumDelaySeconds, now: .max - 1)
        #expect(late.entries.count == 1, "wraps (&+) rather than traps")
    }

    @Test("a committed SA replaces every other SA its Mobile Node holds, never itself")
    func replaced() {
        #expect(SecurityAssociationRetirement.replaced(by: b.rawValue, holding: [a, b, c]) == [a, c])
        #expect(SecurityAssociationRetirement.replaced(by: b.rawValue, holding: [b]).isEmpty)
    }

    @Test("after a restart, a switch in progress finishes on the schedule it had; other MNs are untouched")
    func switchesInProgress() throws {
        let (store, issued) = try storeWithIssuedSAs(["one@example.test", "two@example.test"], now: 1_000)
        var old = issued[0]
        old.retiredAt = 1_030
        var successor = issued[0]
        successor.securityParameterIndex = 0x9999
        successor.retiredAt = nil
        _ = store
        let live = [old, successor, issued[1]]
        let switches = SecurityAssociationRetirement.switchesInProgress(live, now: 1_050, grace: 60)
        #expect(switches.count == 1)
        #expect(switches.first?.successor.securityParameterIndex == 0x9999)
        #expect(switches.first?.remainingSeconds == 40, "1030 + 60 − 1050")
        let overdue = SecurityAssociationRetirement.switchesInProgress(live, now: 2_000, grace: 60)
        #expect(overdue.first?.remainingSeconds == -910, "overdue: retired at once")
    }

    @Test("the queue signals the state thread when an entry is added, and drains on take")
    func queue() throws {
        let queue = try RetirementQueue()
        queue.add(a, of: "one", after: 1, now: 0)
        let poller = TernOSPoller(queue)
        #expect(poller.readable())
        #expect(queue.nextDue == 1_000_000_000)
        #expect(queue.takeDue(at: 999_999_999).isEmpty)
        #expect(!poller.readable(), "drained")
        #expect(queue.takeDue(at: 1_000_000_000).map(\.mobileNode) == ["one"])
    }
}

import TernOS

/// Polls the queue's notifier without waiting.
struct TernOSPoller {
    let poller: Poller
    init(_ queue: RetirementQueue) { poller = Poller([queue.notifier.descriptor.rawValue]) }
    func readable() -> Bool { ((try? poller.wait(timeoutMilliseconds: 0)) ?? false) && poller.isReadable(0) }
}
