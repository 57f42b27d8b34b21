/// Why a received datagram was dropped. Each reason is distinct so that it can be counted and shown
/// (`tern status`, metrics); none of them is ever sent back to the peer.
///
/// The order follows the receive path (RFC 4303 §3.4): framing, SA lookup, replay pre-check, length,
/// ICV, replay update, trailer.
public enum DataChannelDropReason: UInt8, Error, Sendable, CaseIterable, CustomStringConvertible {
    /// Shorter than the 8-byte header.
    case truncatedHeader
    /// The 4-bit Packet Type is none of 0, 1, 8.
    case unknownPacketType
    /// PType 0 whose SPI or Sequence Number is not 0 (RFC 6618 §6.4).
    case malformedPlaintext
    /// PType 0 under an SA with scope 1 (RFC 6618 §5.6.4: silently discarded).
    case plaintextNotPermitted
    /// PType 1 or 8 with SPI 0 (RFC 6618 §6.2: a protected packet never carries SPI 0).
    case zeroSecurityParameterIndex
    /// The SPI names no SA this receiver holds.
    case unknownSecurityParameterIndex
    /// Sequence Number 0 under an SA (DESIGN.md: never accepted).
    case zeroSequenceNumber
    /// Already received (RFC 4303 §3.4.3).
    case replayed
    /// Below the replay window.
    case tooOld
    /// Too short for the suite's IV, minimal trailer and ICV.
    case truncated
    /// The encrypted part is not a whole number of cipher blocks (or of 4 octets).
    case misaligned
    /// The ICV or AEAD tag does not verify: forged, corrupted or under another key.
    case authenticationFailed
    /// Pad Length larger than the decrypted data allows.
    case badPadLength
    /// Padding octets are not 1, 2, 3, … (RFC 4303 §2.4).
    case badPadding
    /// Next Header not allowed for the Packet Type (PType 1: 4, 41, 59; PType 8: 135), or a keepalive
    /// (Next Header 59) that carries data.
    case badNextHeader
    /// The inner packet is empty or its IP version disagrees with Next Header (or, for PType 0, is
    /// neither IPv4 nor IPv6).
    case badInnerPacket
    /// OpenSSL refused an operation while opening (a library fault, not a verdict on the packet).
    case cryptoFailure

    public var description: String {
        switch self {
        case .truncatedHeader: "datagram shorter than the 8-byte PType/SPI/Sequence header"
        case .unknownPacketType: "unknown Packet Type"
        case .malformedPlaintext: "PType 0 with a non-zero SPI or Sequence Number"
        case .plaintextNotPermitted: "PType 0 under an SA with scope 1"
        case .zeroSecurityParameterIndex: "protected packet with SPI 0"
        case .unknownSecurityParameterIndex: "SPI of no known security association"
        case .zeroSequenceNumber: "protected packet with Sequence Number 0"
        case .replayed: "replayed Sequence Number"
        case .tooOld: "Sequence Number below the replay window"
        case .truncated: "datagram too short for the suite's IV, trailer and ICV"
        case .misaligned: "encrypted part not aligned to the cipher block"
        case .authenticationFailed: "ICV does not verify"
        case .badPadLength: "Pad Length exceeds the decrypted data"
        case .badPadding: "padding octets are not 1, 2, 3, ..."
        case .badNextHeader: "Next Header not allowed for the Packet Type"
        case .badInnerPacket: "inner packet empty or of the wrong IP version"
        case .cryptoFailure: "OpenSSL failed while opening"
        }
    }

    /// A short, stable name for metrics labels and JSON.
    public var label: String {
        switch self {
        case .truncatedHeader: "truncated_header"
        case .unknownPacketType: "unknown_packet_type"
        case .malformedPlaintext: "malformed_plaintext"
        case .plaintextNotPermitted: "plaintext_not_permitted"
        case .zeroSecurityParameterIndex: "zero_spi"
        case .unknownSecurityParameterIndex: "unknown_spi"
        case .zeroSequenceNumber: "zero_sequence_number"
        case .replayed: "replayed"
        case .tooOld: "too_old"
        case .truncated: "truncated"
        case .misaligned: "misaligned"
        case .authenticationFailed: "authentication_failed"
        case .badPadLength: "bad_pad_length"
        case .badPadding: "bad_padding"
        case .badNextHeader: "bad_next_header"
        case .badInnerPacket: "bad_inner_packet"
        case .cryptoFailure: "crypto_failure"
        }
    }
}

/// One counter per ``DataChannelDropReason``, with no allocation after creation.
public struct DataChannelDropCounters: Sendable {
    /// One slot per reason; the tests hold this equal to `DataChannelDropReason.allCases.count`.
    public static let capacity = 24
    private var counts: InlineArray<24, UInt64>

    public init() {
        counts = InlineArray(repeating: 0)
    }

    @inline(__always)
    public mutating func record(_ reason: DataChannelDropReason) {
        counts[Int(reason.rawValue)] &+= 1
    }

    /// Adds `count` drops for `reason` at once (merging counters of several threads).
    public mutating func add(_ count: UInt64, for reason: DataChannelDropReason) {
        counts[Int(reason.rawValue)] &+= count
    }

    public subscript(reason: DataChannelDropReason) -> UInt64 {
        counts[Int(reason.rawValue)]
    }

    /// Every drop, whatever the reason.
    public var total: UInt64 {
        var sum: UInt64 = 0
        for index in counts.indices { sum &+= counts[index] }
        return sum
    }
}
