import TernController
import Testing

@Suite("EventSummary: the log stays bounded under a flood (pure)")
struct EventSummaryTests {
    static let second: UInt64 = 1_000_000_000

    @Test("the first event of a source and reason is logged; the rest become one line at the window's end")
    func summarises() {
        var summary = EventSummary()
        var logged = summary.record(source: "198.18.0.66", reason: "shed: connection limit", now: 0)
        #expect(logged)
        var later = 0
        for index in 1..<12_408 where summary.record(source: "198.18.0.66", reason: "shed: connection limit", now: UInt64(index)) {
            later += 1
        }
        #expect(later == 0)
        logged = summary.record(source: "198.18.0.67", reason: "unauthorized", now: 5)
        #expect(logged)
        #expect(summary.flush(now: 10 * Self.second - 1).isEmpty)
        let lines = summary.flush(now: 10 * Self.second)
        #expect(lines.map(\.description) == ["12,408 connections from 198.18.0.66 in 10 s: shed: connection limit"])
        #expect(summary.nextFlush == nil)
        // A new window starts afresh.
        logged = summary.record(source: "198.18.0.66", reason: "shed: connection limit", now: 11 * Self.second)
        #expect(logged)
    }

    @Test("an attacker with 10,000 sources gets one full line, 16 per-source lines and one for the rest")
    func bounded() {
        var summary = EventSummary()
        var logged = 0
        for source in 0..<10_000 {
            for _ in 0..<3 where summary.record(source: "s\(source)", reason: "timeout", now: 0) { logged += 1 }
        }
        let lines = summary.flush(now: 10 * Self.second)
        #expect(logged == 1)
        #expect(lines.count == EventSummary.maximumSourceLines + 1)
        #expect(lines.first?.description == "3 connections from s0 in 10 s: timeout")
        #expect(lines.last?.description == "29,952 connections from other sources in 10 s: timeout")
    }
}
