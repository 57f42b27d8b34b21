import TernDaemon
import TernOS
import TernProtocol
import TernStore
import Testing

@Suite("Binding persistence: bindings written as they change, and put back after a restart")
struct BindingPersistenceTests {
    let clock = ClockPair(monotonicNow: 50_000_000_000, wallNow: 1_000)

    private func entry(_ spi: SecurityParameterIndex) -> BindingCacheEntry {
        BindingCacheEntry(
            spi: spi, sequenceNumber: 7, careOfAddress: IPAddress("198.51.100.7"), behindNAT: true,
            ipv4HomeAddress: nil, lifetimeSeconds: 600, registeredAt: 49_000_000_000, expiresAt: 649_000_000_000)
    }

    @Test("the clock pair carries times both ways and clamps what is out of the monotonic clock's range")
    func clockPair() {
        #expect(clock.wall(50_000_000_000) == 1_000)
        #expect(clock.wall(51_500_000_000) == 1_001.5)
        #expect(clock.monotonic(1_001.5) == 51_500_000_000)
        #expect(clock.monotonic(0) == 0, "before boot")
        #expect(clock.monotonic(.infinity) == .max)
        #expect(clock.monotonic(-.infinity) == 0)
    }

    @Test("a saved binding comes back on the next run's clock, with its endpoint; a gone one is deleted")
    func roundTrip() throws {
        let (store, issued) = try storeWithIssuedSAs(["one@example.test"], now: 1_000)
        let spi = try #require(SecurityParameterIndex(rawValue: issued[0].securityParameterIndex))
        let persistence = BindingPersistence(store: store)
        let endpoint = SocketAddress(IPAddress("203.0.113.9")!, port: 40_000)
        try persistence.save(BindingRecord(spi: spi, entry: entry(spi), endpoint: endpoint), clock: clock)
        // The next run: its monotonic clock started anew (10 s since boot), 20 s of wall time later.
        let next = ClockPair(monotonicNow: 10_000_000_000, wallNow: 1_020)
        let restored = try persistence.restorable(clock: next)
        #expect(restored.count == 1)
        #expect(restored.first?.endpoint == endpoint)
        #expect(restored.first?.entry?.careOfAddress == IPAddress("198.51.100.7"))
        #expect(restored.first?.entry?.sequenceNumber == 7)
        #expect(restored.first?.entry?.registeredAt == 0, "registered 21 s ago: before this boot, clamped")
        #expect(restored.first?.entry?.expiresAt == 10_000_000_000 + 579_000_000_000, "579 s left")
        #expect(try persistence.restorable(clock: ClockPair(monotonicNow: 0, wallNow: 1_600)).isEmpty, "expired")
        try persistence.save(BindingRecord(spi: spi, entry: nil, endpoint: nil), clock: next)
        #expect(try persistence.restorable(clock: next).isEmpty)
    }

    @Test("a stored binding whose SPI is not a valid SPI is skipped, not trapped on")
    func invalidSPI() {
        let stored = StoredBinding(
            spi: 0, sequenceNumber: 1, careOfAddress: nil, behindNAT: false, ipv4HomeAddress: nil,
            lifetimeSeconds: 10, registeredAt: 1_000, expiresAt: 1_010, endpoint: nil)
        #expect(BindingRecord(stored, clock: clock) == nil)
    }
}
