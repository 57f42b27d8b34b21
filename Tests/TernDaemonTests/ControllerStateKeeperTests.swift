import TernDaemon
import TernOS
import TernProtocol
import TernStore
import Testing

@Suite("The controller's state thread: when it wakes and what one round does")
struct ControllerStateKeeperTests {
    let clock = ClockPair(monotonicNow: 10_000_000_000, wallNow: 1_000)

    @Test("it sleeps until the earlier deadline, a millisecond late, and without one when nothing is due")
    func timeout() {
        #expect(ControllerStateKeeper.timeoutMilliseconds(nextValidityEnd: nil, nextRetirement: nil, clock: clock) == nil)
        #expect(ControllerStateKeeper.timeoutMilliseconds(nextValidityEnd: 1_002, nextRetirement: nil, clock: clock) == 2_001)
        #expect(
            ControllerStateKeeper.timeoutMilliseconds(
                nextValidityEnd: 1_002, nextRetirement: 10_500_000_000, clock: clock) == 501)
        #expect(
            ControllerStateKeeper.timeoutMilliseconds(nextValidityEnd: 900, nextRetirement: 1, clock: clock) == 0,
            "overdue: at once")
        #expect(
            ControllerStateKeeper.timeoutMilliseconds(nextValidityEnd: 1e12, nextRetirement: nil, clock: clock)
                == Int32(ControllerStateKeeper.maximumSleepMilliseconds), "clamped to a day")
        #expect(
            ControllerStateKeeper.timeoutMilliseconds(nextValidityEnd: .nan, nextRetirement: nil, clock: clock) != nil,
            "a NaN end does not trap")
    }

    @Test("one round retires what is due, persists binding changes and removes SAs past their validity end")
    func round() throws {
        let (store, issued) = try storeWithIssuedSAs(["one@example.test", "two@example.test"], now: 500, validity: 400)
        let plane = try FakeDataPlane()
        let retirements = try RetirementQueue()
        let installer = ControllerInstaller(
            plane: plane, routes: FakeRoutes(), reservations: SequenceReservations(store: store),
            retirements: retirements, previousStopWasClean: true, logger: quietLogger)
        var longLived = issued[1]
        longLived.validityEnd = 5_000
        installer.install(issued[0], homeAddresses: [], restored: false)  // ends at 900: expired at 1000
        installer.install(longLived, homeAddresses: [], restored: false)
        let spi = try #require(SecurityParameterIndex(rawValue: longLived.securityParameterIndex))
        let entry = BindingCacheEntry(
            spi: spi, sequenceNumber: 1, careOfAddress: nil, behindNAT: false, ipv4HomeAddress: nil,
            lifetimeSeconds: 60, registeredAt: 10_000_000_000, expiresAt: 70_000_000_000)
        plane.post(BindingRecord(spi: spi, entry: entry, endpoint: nil))
        let bindings = BindingPersistence(store: store)
        ControllerStateKeeper.runDueWork(
            plane: plane, bindings: bindings, retirements: retirements, clock: clock, logger: quietLogger)
        #expect(plane.spis == [longLived.securityParameterIndex], "the expired SA left")
        #expect(try store.bindings(at: 1_000).map(\.spi) == [spi.rawValue], "the change was written")
        retirements.add(spi, of: "two@example.test", after: 1, now: clock.monotonicNow)
        ControllerStateKeeper.runDueWork(
            plane: plane, bindings: bindings, retirements: retirements, clock: clock, logger: quietLogger)
        #expect(plane.spis == [longLived.securityParameterIndex], "not due yet")
        ControllerStateKeeper.runDueWork(
            plane: plane, bindings: bindings, retirements: retirements,
            clock: ClockPair(monotonicNow: clock.monotonicNow + 1_000_000_000, wallNow: 1_001), logger: quietLogger)
        #expect(plane.spis.isEmpty, "retired when due")
    }

    @Test("the thread persists a posted change on its own and stops when asked")
    func thread() throws {
        let (store, issued) = try storeWithIssuedSAs(["one@example.test"], now: wallClockSeconds())
        let plane = try FakeDataPlane()
        let keeper = try ControllerStateKeeper(
            plane: plane, bindings: BindingPersistence(store: store), retirements: try RetirementQueue(),
            logger: quietLogger)
        let spi = try #require(SecurityParameterIndex(rawValue: issued[0].securityParameterIndex))
        let now = monotonicNanoseconds()
        plane.post(
            BindingRecord(
                spi: spi,
                entry: BindingCacheEntry(
                    spi: spi, sequenceNumber: 1, careOfAddress: nil, behindNAT: false, ipv4HomeAddress: nil,
                    lifetimeSeconds: 600, registeredAt: now, expiresAt: now + 600_000_000_000),
                endpoint: nil))
        let deadline = monotonicNanoseconds() + 5_000_000_000
        while try store.bindings(at: wallClockSeconds()).isEmpty, monotonicNanoseconds() < deadline {
            usleep(10_000)
        }
        keeper.stop()
        #expect(try store.bindings(at: wallClockSeconds()).map(\.spi) == [spi.rawValue])
    }
}

#if canImport(Glibc)
import Glibc
#endif
