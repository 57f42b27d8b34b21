import Testing
import TernProtocol
import TernTestSupport

@Suite("Replay window (RFC 4303 §3.4.3, RFC 6479)")
struct ReplayWindowTests {
    @Test("covers at least 4096 numbers (DESIGN.md)")
    func size() {
        #expect(ReplayWindow.size >= 4096)
        #expect(ReplayWindow.size == (ReplayWindow.blockCount - 1) * 64)
    }

    @Test("in order: each number is the newest once, then a duplicate")
    func inOrder() {
        var window = ReplayWindow()
        for sequence in UInt32(1)...20_000 {
            #expect(window.check(sequence) == .newest)
            #expect(window.accept(sequence) == .newest)
            #expect(window.check(sequence) == .duplicate)
        }
        #expect(window.highestAccepted == 20_000)
    }

    @Test("zero is never accepted, before or after traffic")
    func zero() {
        var window = ReplayWindow()
        #expect(window.check(0) == .zero)
        #expect(window.accept(0) == .zero)
        _ = window.accept(5)
        #expect(window.accept(0) == .zero)
        #expect(window.highestAccepted == 5)
    }

    @Test("check never changes the window")
    func checkIsPure() {
        var window = ReplayWindow()
        _ = window.accept(100)
        for sequence: UInt32 in [1, 99, 100, 101, 50_000] { _ = window.check(sequence) }
        #expect(window.highestAccepted == 100)
        #expect(window.check(101) == .newest)
        #expect(window.check(99) == .reordered)
    }

    @Test("reordered within the window: accepted once, not the newest")
    func reordered() {
        var window = ReplayWindow()
        #expect(window.accept(10_000) == .newest)
        for sequence in stride(from: UInt32(9_999), to: 10_000 - UInt32(ReplayWindow.size), by: -1) {
            #expect(window.accept(sequence) == .reordered, "\(sequence)")
            #expect(window.accept(sequence) == .duplicate, "\(sequence)")
        }
        #expect(window.highestAccepted == 10_000)
    }

    @Test("the window's lower edge is exact")
    func edge() {
        var window = ReplayWindow()
        let highest: UInt32 = 100_000
        _ = window.accept(highest)
        let lowest = highest - UInt32(ReplayWindow.size) + 1
        #expect(window.check(lowest) == .reordered)
        #expect(window.check(lowest - 1) == .tooOld)
        #expect(window.accept(lowest - 1) == .tooOld)
        #expect(window.accept(lowest) == .reordered)
    }

    @Test("a jump far ahead clears the old bits and leaves nothing stale behind")
    func jumpAhead() {
        var window = ReplayWindow()
        for sequence in UInt32(1)...64 { _ = window.accept(sequence) }
        // Exactly one ring ahead: every block is reused for new numbers and must read as unseen.
        let far = UInt32(ReplayWindow.blockCount * 64) + 64
        #expect(window.accept(far) == .newest)
        for sequence in (far - UInt32(ReplayWindow.size) + 1)..<far {
            #expect(window.check(sequence) == .reordered, "\(sequence) should be unseen")
        }
        for sequence in UInt32(1)...64 { #expect(window.check(sequence) == .tooOld) }
        // A huge jump (beyond many rings) behaves the same.
        #expect(window.accept(3_000_000_000) == .newest)
        #expect(window.check(3_000_000_000 - 1) == .reordered)
        #expect(window.check(far) == .tooOld)
    }

    @Test("at the 2^32 limit: 2^32 − 1 is accepted once; the window still works below it")
    func limit() {
        var window = ReplayWindow()
        _ = window.accept(UInt32.max - 10)
        #expect(window.accept(UInt32.max) == .newest)
        #expect(window.accept(UInt32.max) == .duplicate)
        #expect(window.check(UInt32.max - 10) == .duplicate)
        #expect(window.accept(UInt32.max - 1) == .reordered)
        #expect(window.check(UInt32.max - UInt32(ReplayWindow.size)) == .tooOld)
        #expect(window.check(0) == .zero, "no wrap to 0")
        #expect(window.check(1) == .tooOld, "no wrap to small numbers")
        #expect(window.highestAccepted == UInt32.max)
    }

    @Test("agrees with a plain set-based model over random traffic")
    func model() {
        var random = SeededRandom(seed: 0x7E2_6479)
        var window = ReplayWindow()
        var seen = Set<UInt32>()
        var highest: UInt32 = 0
        for _ in 0..<200_000 {
            // Mostly near the top, sometimes far back, sometimes far ahead.
            let roll = UInt32.random(in: 0..<100, using: &random)
            let sequence: UInt32 =
                switch roll {
                case 0..<70: highest &+ UInt32.random(in: 0...8, using: &random) &- 4
                case 70..<90: highest &- UInt32.random(in: 0...9000, using: &random)
                case 90..<99: highest &+ UInt32.random(in: 1...5000, using: &random)
                default: UInt32.random(in: 0...UInt32.max, using: &random)
                }
            let expected: ReplayWindow.Verdict
            if sequence == 0 {
                expected = .zero
            } else if sequence > highest {
                expected = .newest
            } else if UInt64(sequence) + UInt64(ReplayWindow.size) <= UInt64(highest) {
                expected = .tooOld
            } else {
                expected = seen.contains(sequence) ? .duplicate : .reordered
            }
            #expect(window.check(sequence) == expected)
            #expect(window.accept(sequence) == expected)
            if expected.isAcceptable {
                seen.insert(sequence)
                highest = max(highest, sequence)
            }
        }
    }
}

@Suite("Outbound sequence numbers (RFC 4303 §3.3.3, DESIGN.md)")
struct OutboundSequenceNumberTests {
    @Test("the first packet carries 1, then 2, 3, …")
    func first() throws {
        var counter = OutboundSequenceNumber()
        #expect(try counter.next() == 1)
        #expect(try counter.next() == 2)
        #expect(counter.lastSent == 2)
    }

    @Test("soft limit 2^31 is signalled, traffic still flows")
    func softLimit() throws {
        var counter = OutboundSequenceNumber(lastSent: OutboundSequenceNumber.softLimit - 2)
        #expect(try counter.next() == OutboundSequenceNumber.softLimit - 1)
        #expect(!counter.isPastSoftLimit)
        #expect(try counter.next() == OutboundSequenceNumber.softLimit)
        #expect(counter.isPastSoftLimit)
    }

    @Test("2^32 − 1 is the last number; after it the counter refuses and stays refused")
    func hardStop() throws {
        var counter = OutboundSequenceNumber(lastSent: UInt32.max - 1)
        #expect(counter.remaining == 1)
        #expect(try counter.next() == UInt32.max)
        #expect(counter.remaining == 0)
        #expect(throws: OutboundSequenceNumber.Exhausted.self) { try counter.next() }
        #expect(throws: OutboundSequenceNumber.Exhausted.self) { try counter.next() }
        #expect(counter.lastSent == UInt32.max)
    }

    @Test("a restored SA resumes after its reservation")
    func resume() throws {
        var counter = OutboundSequenceNumber(lastSent: 3 << 20)
        #expect(try counter.next() == (3 << 20) + 1)
    }
}
