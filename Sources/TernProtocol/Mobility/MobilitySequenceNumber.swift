/// The Binding Update's 16-bit Sequence # compared as RFC 6275 §9.5.1 orders it: modulo 2^16, so that
/// 0x0000 follows 0xFFFF and a sender that has sent 65,535 Binding Updates keeps being "newer".
///
/// `new` is greater than `last` when (new − last) mod 2^16 lies in 1 ..< 2^15. Exactly half the space is
/// "ahead"; a difference of 0 or of 2^15 or more is not greater (equal, stale, or too far ahead to tell).
public enum MobilitySequenceNumber {
    /// Half the 16-bit space: differences at or above it are read as "behind" (RFC 6275 §9.5.1).
    public static let halfSpace: UInt16 = 0x8000

    /// True when `new` is greater than `last` modulo 2^16 (RFC 6275 §9.5.1).
    @inline(__always)
    public static func isGreater(_ new: UInt16, than last: UInt16) -> Bool {
        let difference = new &- last
        return difference != 0 && difference < halfSpace
    }

    /// The number after `value`, wrapping 0xFFFF to 0x0000 (which compares greater, see ``isGreater(_:than:)``).
    @inline(__always)
    public static func next(after value: UInt16) -> UInt16 { value &+ 1 }
}
