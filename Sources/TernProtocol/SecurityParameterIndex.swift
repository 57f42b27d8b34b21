/// The 28-bit Security Parameter Index that names one MN–HA security association (RFC 6618 §5.6.1, §6.2).
///
/// Valid values are 1 through 268,435,455; 0 is reserved for plaintext packets and never names an SA.
/// One SPI serves both directions; the keys differ per direction.
public struct SecurityParameterIndex: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The largest value the 28-bit field holds.
    public static let maximum: UInt32 = 0x0FFF_FFFF

    public let rawValue: UInt32

    /// Returns nil for 0 and for anything that does not fit in 28 bits.
    public init?(rawValue: UInt32) {
        guard rawValue != 0, rawValue <= Self.maximum else { return nil }
        self.rawValue = rawValue
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { "SPI \(rawValue)" }
}
