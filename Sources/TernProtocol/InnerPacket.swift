/// The addresses of a tunneled IPv4 (RFC 791) or IPv6 (RFC 8200) packet, read without copying.
///
/// Only what forwarding needs: version, source, destination. A packet too short for its header, or
/// of another version, does not parse.
public enum InnerPacket {
    /// An IPv4 header is at least 20 octets (IHL ≥ 5); an IPv6 header is 40.
    public static let minimumIPv4HeaderLength = 20
    public static let ipv6HeaderLength = 40

    /// The destination address of the packet at `range` in `buffer`, or nil if it is not a well-formed
    /// IPv4 or IPv6 header.
    @inline(__always)
    public static func destination(_ buffer: UnsafeRawBufferPointer, _ range: Range<Int>) -> IPAddress? {
        address(buffer, range, ipv4Offset: 16, ipv6Offset: 24)
    }

    /// The source address of the packet at `range` in `buffer`, or nil if it is not well formed.
    @inline(__always)
    public static func source(_ buffer: UnsafeRawBufferPointer, _ range: Range<Int>) -> IPAddress? {
        address(buffer, range, ipv4Offset: 12, ipv6Offset: 8)
    }

    @inline(__always)
    private static func address(
        _ buffer: UnsafeRawBufferPointer, _ range: Range<Int>, ipv4Offset: Int, ipv6Offset: Int
    ) -> IPAddress? {
        guard range.lowerBound >= 0, range.upperBound <= buffer.count, !range.isEmpty else { return nil }
        let start = range.lowerBound
        switch buffer[start] >> 4 {
        case 4:
            let headerLength = Int(buffer[start] & 0x0F) * 4
            guard headerLength >= minimumIPv4HeaderLength, range.count >= headerLength else { return nil }
            return .v4(IPv4Address(rawValue: buffer.loadBigEndianUInt32(at: start + ipv4Offset)))
        case 6:
            guard range.count >= ipv6HeaderLength else { return nil }
            let high = UInt64(buffer.loadBigEndianUInt32(at: start + ipv6Offset)) << 32
                | UInt64(buffer.loadBigEndianUInt32(at: start + ipv6Offset + 4))
            let low = UInt64(buffer.loadBigEndianUInt32(at: start + ipv6Offset + 8)) << 32
                | UInt64(buffer.loadBigEndianUInt32(at: start + ipv6Offset + 12))
            return .v6(IPv6Address(high: high, low: low))
        default:
            return nil
        }
    }
}

/// When the Mobile Node sends a keepalive (DESIGN.md: every 25 s by default when idle): only when
/// nothing else has been sent for a whole interval. Time is a value (nanoseconds of a monotonic clock)
/// so tests drive it.
public struct KeepaliveSchedule: Sendable {
    /// Nanoseconds between keepalives on an idle tunnel; 0 turns them off.
    public let interval: UInt64
    /// When the last datagram of any kind was sent.
    public private(set) var lastSent: UInt64

    public init(intervalSeconds: Int, now: UInt64) {
        interval = UInt64(max(intervalSeconds, 0)) * 1_000_000_000
        lastSent = now
    }

    /// Records that a datagram went out at `now`.
    public mutating func sent(at now: UInt64) { lastSent = max(lastSent, now) }

    /// True when a keepalive is due at `now`.
    public func isDue(at now: UInt64) -> Bool {
        interval > 0 && now >= lastSent &+ interval
    }

    /// Milliseconds until the next keepalive may be due (for a poll timeout), at most `cap`.
    public func millisecondsUntilDue(at now: UInt64, cap: Int32) -> Int32 {
        guard interval > 0 else { return cap }
        let due = lastSent &+ interval
        guard due > now else { return 0 }
        return Int32(min(UInt64(cap), (due - now + 999_999) / 1_000_000))
    }
}

/// When a data-plane thread publishes its counters (DESIGN.md: idle is idle): at most every `interval`
/// while there is traffic, once more after the last of it, and never while nothing happens — so an idle
/// thread sleeps in poll with no timeout at all. Time is a value (monotonic nanoseconds).
public struct PublishSchedule: Sendable {
    /// Nanoseconds between publications while counters change.
    public static let interval: UInt64 = 200_000_000

    public private(set) var lastPublished: UInt64
    /// Something was counted since the last publication.
    public private(set) var isDirty = false

    public init(now: UInt64) { lastPublished = now }

    /// Records that the counters may have changed (the thread handled something).
    public mutating func changed() { isDirty = true }

    /// True when the counters should be published at `now`.
    public func isDue(at now: UInt64) -> Bool { isDirty && now &- lastPublished >= Self.interval }

    public mutating func published(at now: UInt64) {
        lastPublished = now
        isDirty = false
    }

    /// Milliseconds poll may sleep before the next publication is due: −1 (no timeout) when nothing is
    /// waiting to be published.
    public func pollTimeout(at now: UInt64) -> Int32 {
        guard isDirty else { return -1 }
        let due = lastPublished &+ Self.interval
        return due <= now ? 0 : Int32((due - now + 999_999) / 1_000_000)
    }
}

/// The shorter of two poll timeouts, where −1 means none.
@inline(__always)
public func shorterPollTimeout(_ a: Int32, _ b: Int32) -> Int32 {
    if a < 0 { return b }
    if b < 0 { return a }
    return min(a, b)
}
