/// Why a Mobility Header could not be decoded or encoded. Each case names what was wrong and, where it
/// helps, the octet offset from the start of the Mobility Header, so a dropped BU can be explained in a
/// log line without a packet capture.
///
/// Decoding errors come from octets a stranger sent; the HA answers only ``unknownMessageType(_:)``
/// (Binding Error status 2, RFC 6275 §9.2) and drops the rest. The encoding-only cases are faults in a
/// value Tern built itself.
public enum MobilityHeaderError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Fewer octets than the fixed 8-octet minimum of a Mobility Header (RFC 6275 §6.1.1).
    case truncated(needed: Int, had: Int)
    /// Header Len says `(headerLength + 1) * 8` octets but `actual` were given (RFC 6275 §9.2: must match).
    case lengthMismatch(headerLength: UInt8, actual: Int)
    /// Longer than ``MobilityHeaderCodec/maximumLength`` (received or built).
    case tooLong(length: Int)
    /// Payload Proto is not 59 (IPPROTO_NONE); RFC 6275 §6.1.1 requires 59 and Tern carries nothing after.
    case payloadProtoNot59(UInt8)
    /// An MH Type Tern does not handle; the value is kept so the HA can answer Binding Error status 2.
    case unknownMessageType(UInt8)
    /// The header is shorter than the fixed message data of its type (BU and BA 12 octets, BE 24).
    case messageTooShortForType(type: UInt8, length: Int)
    /// The option at `offset` runs past the end of the header (its Length octet, or its data).
    case optionTruncated(type: UInt8, offset: Int)
    /// A known option at `offset` whose Length is not the one its RFC fixes.
    case optionLengthInvalid(type: UInt8, length: UInt8, offset: Int)
    /// Encoding: the destination buffer holds `had` octets, the header needs `needed`.
    case bufferTooSmall(needed: Int, had: Int)
    /// Encoding: an unknown option's data does not fit the 8-bit Length field.
    case optionDataTooLong(type: UInt8, length: Int)
    /// Encoding: `.unknown` with a type the codec owns (Pad1, PadN or an option it encodes itself), which
    /// would not decode back to the same value.
    case unknownOptionWithKnownType(UInt8)
    /// Encoding: a prefix length that does not fit the 6-bit field of options 29 and 30 (RFC 5555 §3.1.1).
    case prefixLengthOutOfRange(UInt8)

    public var description: String {
        switch self {
        case .truncated(let needed, let had):
            "Mobility Header truncated: needs at least \(needed) octets, has \(had)"
        case .lengthMismatch(let headerLength, let actual):
            "Mobility Header Len \(headerLength) means \((Int(headerLength) + 1) * 8) octets, but \(actual) were given"
        case .tooLong(let length):
            "Mobility Header of \(length) octets exceeds the limit of \(MobilityHeaderCodec.maximumLength)"
        case .payloadProtoNot59(let value):
            "Mobility Header Payload Proto is \(value), not 59"
        case .unknownMessageType(let type):
            "unknown MH Type \(type)"
        case .messageTooShortForType(let type, let length):
            "Mobility Header of \(length) octets is too short for MH Type \(type)"
        case .optionTruncated(let type, let offset):
            "mobility option \(type) at offset \(offset) runs past the end of the header"
        case .optionLengthInvalid(let type, let length, let offset):
            "mobility option \(type) at offset \(offset) has invalid Length \(length)"
        case .bufferTooSmall(let needed, let had):
            "buffer of \(had) octets is too small for a Mobility Header of \(needed)"
        case .optionDataTooLong(let type, let length):
            "mobility option \(type) carries \(length) octets of data, more than 255"
        case .unknownOptionWithKnownType(let type):
            "mobility option type \(type) cannot be sent as an unknown option"
        case .prefixLengthOutOfRange(let value):
            "prefix length \(value) does not fit the 6-bit field"
        }
    }
}
