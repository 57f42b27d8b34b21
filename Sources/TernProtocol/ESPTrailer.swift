/// Padding, Pad Length and Next Header after the payload (RFC 4303 §2.4–2.6), as RFC 6618 §6.3–6.4
/// use them.
///
/// The sender pads with the octets 1, 2, 3, … so that payload + padding + 2 is aligned; the receiver
/// checks those octets (RFC 4303 §2.4: "the receiver SHOULD inspect the Padding field").
public enum ESPTrailer {
    /// Pad Length and Next Header.
    public static let fixedLength = 2
    /// RFC 4303 §2.5: Pad Length is one octet.
    public static let maximumPaddingLength = 255

    /// Writes padding, Pad Length and Next Header starting at `payloadEnd`; returns the offset after them.
    ///
    /// - Precondition: `payloadEnd + paddingLength + 2 <= buffer.count`, `paddingLength <= 255`; the
    ///   data channel checks the tailroom before it calls this.
    @inline(__always)
    public static func write(
        into buffer: UnsafeMutableRawBufferPointer, payloadEnd: Int, paddingLength: Int, nextHeader: UInt8
    ) -> Int {
        precondition(paddingLength >= 0 && paddingLength <= maximumPaddingLength)
        precondition(payloadEnd >= 0 && payloadEnd + paddingLength + fixedLength <= buffer.count)
        var index = 0
        while index < paddingLength {
            buffer[payloadEnd + index] = UInt8(truncatingIfNeeded: index + 1)
            index += 1
        }
        let padEnd = payloadEnd + paddingLength
        buffer[padEnd] = UInt8(truncatingIfNeeded: paddingLength)
        buffer[padEnd + 1] = nextHeader
        return padEnd + fixedLength
    }

    /// Reads the trailer at the end of decrypted `data` (the span from the payload's start to Next
    /// Header inclusive), checks the padding octets, and returns where the payload ends and its Next
    /// Header.
    @inline(__always)
    public static func parse(
        _ buffer: UnsafeRawBufferPointer, data: Range<Int>
    ) throws(DataChannelDropReason) -> (payloadEnd: Int, nextHeader: UInt8) {
        guard data.lowerBound >= 0, data.upperBound <= buffer.count, data.count >= fixedLength else {
            throw .truncated
        }
        let nextHeader = buffer[data.upperBound - 1]
        let paddingLength = Int(buffer[data.upperBound - 2])
        guard paddingLength + fixedLength <= data.count else { throw .badPadLength }
        let padStart = data.upperBound - fixedLength - paddingLength
        var index = 0
        while index < paddingLength {
            guard buffer[padStart + index] == UInt8(truncatingIfNeeded: index + 1) else { throw .badPadding }
            index += 1
        }
        return (padStart, nextHeader)
    }
}
