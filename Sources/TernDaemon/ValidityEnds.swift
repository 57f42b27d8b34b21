import Synchronization
public import TernOS

/// The validity end (wall-clock seconds) of each SA the Mobile Node got from its HAC, by SPI: the
/// `tern_security_association_expiry_seconds` gauge reads the one the data plane sends under. Thread safe.
public final class ValidityEnds: Sendable {
    private let ends = Mutex<[UInt32: Double]>([:])

    public init() {}

    /// Records `end` for `spi` (nothing for nil); SAs past their end at `now` are forgotten, so only the
    /// live ones are kept.
    public func set(_ end: Double?, for spi: UInt32, now: Double = wallClockSeconds()) {
        guard let end else { return }
        ends.withLock { ends in
            ends = ends.filter { $0.value > now }
            ends[spi] = end
        }
    }

    /// Seconds from `now` to the end of `spi`'s validity, if known.
    public func secondsLeft(for spi: UInt32, now: Double = wallClockSeconds()) -> Double? {
        ends.withLock { $0[spi] }.map { $0 - now }
    }

    /// How many SAs are remembered.
    public var count: Int { ends.withLock { $0.count } }
}
