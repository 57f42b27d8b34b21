import TernProtocol
import Testing

@Suite("A replay window restored after a restart (docs/tunnel.md, Restarts)")
struct ReplayWindowFloorTests {
    @Test("everything at or below the floor is refused, the next number is the newest", arguments: [1, 63, 64, 65, 8_127, 100_000, UInt32.max - 1])
    func floor(_ floor: UInt32) {
        var window = ReplayWindow(refusingThrough: floor)
        #expect(window.highestAccepted == floor)
        #expect(window.check(floor) == .duplicate)
        #expect(window.check(floor - 1) == (floor > 1 ? .duplicate : .zero))
        if floor > UInt32(ReplayWindow.size) { #expect(window.check(floor - UInt32(ReplayWindow.size)) == .tooOld) }
        #expect(window.check(0) == .zero)
        #expect(window.accept(floor + 1) == .newest)
        // Numbers above the floor but below a newer one are still reordering, not replays.
        #expect(window.accept(floor &+ 3 > floor ? floor + 3 : floor + 1) != .zero)
        if floor < UInt32.max - 3 {
            #expect(window.check(floor + 2) == .reordered)
            #expect(window.accept(floor + 2) == .reordered)
            #expect(window.check(floor + 2) == .duplicate)
        }
        #expect(window.check(floor) == .duplicate)
    }

    @Test("a floor of 0 is a fresh window")
    func zero() {
        var window = ReplayWindow(refusingThrough: 0)
        #expect(window.check(1) == .newest)
        #expect(window.accept(5) == .newest)
        #expect(window.accept(1) == .reordered)
    }

    @Test("a large jump past the floor clears it as an ordinary advance would")
    func jump() {
        var window = ReplayWindow(refusingThrough: 1_000)
        #expect(window.accept(1_000_000) == .newest)
        #expect(window.check(999_999) == .reordered)
        #expect(window.check(1_000) == .tooOld)
    }
}
