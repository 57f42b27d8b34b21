/// The Internet checksum (RFC 1071): the 16-bit one's-complement of the one's-complement sum of the data
/// read as big-endian 16-bit words, a final odd octet padded on the right with a zero octet.
///
/// Partial sums are `UInt32` values already folded to 16 bits (0...0xFFFF), so a caller may add a few of
/// them (`a &+ b`, never overflows for fewer than 65 538 terms) and `fold` the total. Every function reads
/// only the bytes it is given.
///
/// Speed: the data is read eight octets at a time with unaligned native loads; each 64-bit word's two
/// 32-bit halves are added into a 64-bit accumulator without any carry test (2³⁰ words of headroom, see
/// `wordsPerRound`), and the total is folded and byte-swapped once at the end. This is RFC 1071 §2's
/// "byte order independence" and "parallel summation": 2¹⁶ ≡ 2³² ≡ 1 (mod 0xFFFF), so summing wider words
/// natively and folding gives the same one's-complement sum as 16-bit big-endian words.
public enum InternetChecksum {
    /// IP protocol numbers (IANA) that appear in pseudo-headers.
    public static let protocolTCP: UInt8 = 6
    public static let protocolUDP: UInt8 = 17

    /// Words summed before the accumulator is reduced: each adds < 2³², so 2³⁰ words stay below 2⁶³.
    static let wordsPerRound = 1 << 30

    /// The one's-complement sum of `bytes` plus `initial`, folded to 16 bits (0...0xFFFF).
    @inline(__always)
    public static func sum(_ bytes: UnsafeRawBufferPointer, initial: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return UInt32(fold(initial)) }
        return sum(base, count: bytes.count, initial: initial)
    }

    /// The one's-complement sum of the `count` octets at `base` plus `initial`, folded to 16 bits.
    /// The caller guarantees that `base ..< base + count` is readable.
    @inline(__always)
    package static func sum(_ base: UnsafeRawPointer, count: Int, initial: UInt32 = 0) -> UInt32 {
        let native = nativeSum(base, count: count)
        return UInt32(fold(UInt64(networkOrder(native)) &+ UInt64(initial)))
    }

    /// Copies `count` octets from `source` to `destination` and returns their one's-complement sum plus
    /// `initial`, folded to 16 bits: one pass over data that has to be copied anyway. The caller
    /// guarantees both ranges are valid and do not overlap.
    package static func copyAndSum(
        from source: UnsafeRawPointer, to destination: UnsafeMutableRawPointer, count: Int, initial: UInt32 = 0
    ) -> UInt32 {
        let native = nativeSum(source, count: count, copyingTo: destination)
        return UInt32(fold(UInt64(networkOrder(native)) &+ UInt64(initial)))
    }

    /// Folds a sum of partial sums to 16 bits with end-around carry.
    @inline(__always)
    public static func fold(_ sum: UInt32) -> UInt16 {
        var value = (sum & 0xFFFF) &+ (sum &>> 16)
        value = (value & 0xFFFF) &+ (value &>> 16)
        return UInt16(truncatingIfNeeded: value)
    }

    /// Folds a 64-bit sum to 16 bits with end-around carry.
    @inline(__always)
    public static func fold(_ sum: UInt64) -> UInt16 {
        fold(UInt32(truncatingIfNeeded: reduce(reduce(sum))))
    }

    /// The checksum of `bytes` with `initial` (for example a pseudo-header sum): the complement of the
    /// folded sum, as stored in an IPv4, TCP or UDP header.
    @inline(__always)
    public static func checksum(_ bytes: UnsafeRawBufferPointer, initial: UInt32 = 0) -> UInt16 {
        ~fold(sum(bytes, initial: initial))
    }

    /// The pseudo-header sum (RFC 768 for IPv4, RFC 8200 §8.1 for IPv6) from `addresses`, the source and
    /// destination addresses exactly as they follow each other in the IP header (8 octets for IPv4 at
    /// offset 12, 32 octets for IPv6 at offset 8), the upper-layer protocol and the upper-layer length.
    @inline(__always)
    public static func pseudoHeaderSum(
        addresses: UnsafeRawBufferPointer, protocolNumber: UInt8, length: Int
    ) -> UInt32 {
        let length = UInt32(truncatingIfNeeded: max(length, 0))
        return UInt32(fold(sum(addresses) &+ UInt32(protocolNumber) &+ (length &>> 16) &+ (length & 0xFFFF)))
    }

    /// The RFC 768 pseudo-header sum for an IPv4 datagram.
    public static func pseudoHeaderSum(
        source: IPv4Address, destination: IPv4Address, protocolNumber: UInt8, length: Int
    ) -> UInt32 {
        let words = (source.rawValue &>> 16) &+ (source.rawValue & 0xFFFF)
            &+ (destination.rawValue &>> 16) &+ (destination.rawValue & 0xFFFF)
        let length = UInt32(truncatingIfNeeded: max(length, 0))
        return UInt32(fold(words &+ UInt32(protocolNumber) &+ (length &>> 16) &+ (length & 0xFFFF)))
    }

    /// The RFC 8200 §8.1 pseudo-header sum for an IPv6 packet (upper-layer length as 32 bits).
    public static func pseudoHeaderSum(
        source: IPv6Address, destination: IPv6Address, protocolNumber: UInt8, length: Int
    ) -> UInt32 {
        let total = halfSum(source.high) &+ halfSum(source.low) &+ halfSum(destination.high)
            &+ halfSum(destination.low)
        let length = UInt64(truncatingIfNeeded: max(length, 0))
        return UInt32(fold(total &+ UInt64(protocolNumber) &+ (length &>> 16) &+ (length & 0xFFFF)))
    }

    /// The IPv4 header checksum (RFC 791) of `header`, computed as if its checksum field (octets 10–11)
    /// were zero, so the header need not be modified first.
    @inline(__always)
    public static func ipv4HeaderChecksum(_ header: UnsafeRawBufferPointer) -> UInt16 {
        let total = sum(header)
        guard header.count >= 12 else { return ~fold(total) }
        let stored = header.loadBigEndianUInt16(at: 10)
        return ~fold(total &+ UInt32(~stored))
    }

    /// The four 16-bit words of a 64-bit half of an IPv6 address, added.
    @inline(__always)
    static func halfSum(_ half: UInt64) -> UInt64 {
        (half &>> 48) &+ ((half &>> 32) & 0xFFFF) &+ ((half &>> 16) & 0xFFFF) &+ (half & 0xFFFF)
    }

    // MARK: - The core loop

    /// The sum of the 64-bit native words of `base ..< base + count` (the tail zero-padded on the right),
    /// reduced to at most 33 bits; not folded, not byte-swapped. With `destination`, the octets are also
    /// copied there in the same pass (`copyAndSum`); a constant nil copies nothing once inlined.
    @inline(__always)
    static func nativeSum(
        _ base: UnsafeRawPointer, count: Int, copyingTo destination: UnsafeMutableRawPointer? = nil
    ) -> UInt64 {
        var accumulator: UInt64 = 0
        var offset = 0
        var remaining = count
        while remaining >= 8 {
            let words = min(remaining &>> 3, wordsPerRound)
            var round: UInt64 = 0
            // The range was checked by the caller; raw-pointer loads carry no bounds check.
            for index in 0..<words {
                let word = base.loadUnaligned(fromByteOffset: offset &+ index &* 8, as: UInt64.self)
                destination?.storeBytes(of: word, toByteOffset: offset &+ index &* 8, as: UInt64.self)
                round &+= word & 0xFFFF_FFFF
                round &+= word &>> 32
            }
            accumulator = reduce(accumulator &+ reduce(round))
            offset &+= words &* 8
            remaining &-= words &* 8
        }
        if remaining > 0 {
            destination.map { ($0 + offset).copyMemory(from: base + offset, byteCount: remaining) }
            accumulator &+= tail(base + offset, count: remaining)
        }
        return accumulator
    }

    /// The last 1...7 octets as one native word, padded with zero octets after them in memory order
    /// (RFC 1071 §4.1's padding of an odd final octet, whatever the host's byte order).
    @inline(__always)
    static func tail(_ base: UnsafeRawPointer, count: Int) -> UInt64 {
        var word: UInt64 = 0
        withUnsafeMutableBytes(of: &word) { $0.baseAddress?.copyMemory(from: base, byteCount: min(count, 8)) }
        return (word & 0xFFFF_FFFF) &+ (word &>> 32)
    }

    /// 64 bits to at most 33 bits, preserving the value modulo 0xFFFF.
    @inline(__always)
    static func reduce(_ value: UInt64) -> UInt64 { (value & 0xFFFF_FFFF) &+ (value &>> 32) }

    /// A native-order sum folded to 16 bits and turned into the big-endian (network) value.
    @inline(__always)
    static func networkOrder(_ native: UInt64) -> UInt16 { UInt16(bigEndian: fold(native)) }
}
