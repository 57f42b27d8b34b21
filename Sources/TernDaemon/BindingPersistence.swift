import TernOS
public import TernProtocol
public import TernStore

// Job 2 of the controller's state: binding persistence (DESIGN.md: where state lives). A restarted HA
// puts its bindings back, so that even an idle MN is reachable at once.

/// The monotonic and wall clocks read together, to carry a time from one to the other (bindings live on
/// the monotonic clock in the data plane, on the wall clock in the database across restarts). A value:
/// ``now()`` reads both clocks, tests give them.
public struct ClockPair: Sendable, Hashable {
    /// Nanoseconds on the monotonic clock, and seconds since 1970, at the same instant.
    public let monotonicNow: UInt64
    public let wallNow: Double

    public init(monotonicNow: UInt64, wallNow: Double) {
        self.monotonicNow = monotonicNow
        self.wallNow = wallNow
    }

    /// Both clocks, read now.
    public static func now() -> ClockPair { ClockPair(monotonicNow: monotonicNanoseconds(), wallNow: wallClockSeconds()) }

    public func wall(_ monotonic: UInt64) -> Double { wallNow + (Double(monotonic) - Double(monotonicNow)) / 1e9 }

    /// The monotonic time of `wall`, clamped to the clock's range (a time before boot is 0).
    public func monotonic(_ wall: Double) -> UInt64 {
        let value = Double(monotonicNow) + (wall - wallNow) * 1e9
        return value <= 0 ? 0 : value >= Double(UInt64.max) ? .max : UInt64(value)
    }
}

/// Where bindings are kept (the HAC's database).
public protocol BindingStore: AnyObject, Sendable {
    func saveBinding(_ binding: StoredBinding) throws
    func deleteBinding(spi: UInt32) throws
    /// The bindings still live at `now` (seconds since 1970).
    func storedBindings(at now: Double) throws -> [StoredBinding]
}

extension HomeAgentControllerStore: BindingStore {
    public func storedBindings(at now: Double) throws -> [StoredBinding] { try bindings(at: now) }
}

/// Writes bindings as the data plane changes them, and reads them back after a restart.
public struct BindingPersistence: Sendable {
    public let store: any BindingStore

    public init(store: any BindingStore) { self.store = store }

    /// Writes one change (a gone binding is deleted); times go from the monotonic to the wall clock.
    public func save(_ change: BindingRecord, clock: ClockPair) throws {
        guard let entry = change.entry else { return try store.deleteBinding(spi: change.spi.rawValue) }
        try store.saveBinding(StoredBinding(entry, endpoint: change.endpoint, clock: clock))
    }

    /// The bindings still live at `clock.wallNow`, on this process's monotonic clock. A stored SPI that is
    /// not a valid SPI is skipped (the database is trusted, but not to trap).
    public func restorable(clock: ClockPair) throws -> [BindingRecord] {
        try store.storedBindings(at: clock.wallNow).compactMap { BindingRecord($0, clock: clock) }
    }
}

extension StoredBinding {
    /// The entry as the database keeps it: wall-clock seconds.
    public init(_ entry: BindingCacheEntry, endpoint: SocketAddress?, clock: ClockPair) {
        self.init(
            spi: entry.spi.rawValue, sequenceNumber: entry.sequenceNumber, careOfAddress: entry.careOfAddress,
            behindNAT: entry.behindNAT, ipv4HomeAddress: entry.ipv4HomeAddress, lifetimeSeconds: entry.lifetimeSeconds,
            registeredAt: clock.wall(entry.registeredAt), expiresAt: clock.wall(entry.expiresAt),
            endpoint: endpoint.map { ($0.address, $0.port) })
    }
}

extension BindingRecord {
    /// A stored binding on this process's monotonic clock; nil when its SPI is not one.
    public init?(_ stored: StoredBinding, clock: ClockPair) {
        guard let spi = SecurityParameterIndex(rawValue: stored.spi) else { return nil }
        let entry = BindingCacheEntry(
            spi: spi, sequenceNumber: stored.sequenceNumber, careOfAddress: stored.careOfAddress,
            behindNAT: stored.behindNAT, ipv4HomeAddress: stored.ipv4HomeAddress,
            lifetimeSeconds: stored.lifetimeSeconds, registeredAt: clock.monotonic(stored.registeredAt),
            expiresAt: clock.monotonic(stored.expiresAt))
        self.init(spi: spi, entry: entry, endpoint: stored.endpoint.map { SocketAddress($0.address, port: $0.port) })
    }
}
