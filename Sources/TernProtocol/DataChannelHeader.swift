/// The 8-byte header that opens every MN↔HA datagram: PType(4) | SPI(28) | Sequence Number(32)
/// (RFC 6618 §6.1–6.2). Integrity protection treats PType and SPI as one 32-bit field.
///
/// Parsing only splits the fields; what each PType requires of SPI and Sequence Number is checked by the
/// data channel, which knows the SA's scope.
public struct DataChannelHeader: Hashable, Sendable {
    /// Octets on the wire.
    public static let length = 8

    /// The raw 4-bit Packet Type: kept raw so that unknown values can be reported.
    public var packetTypeValue: UInt8
    /// The raw 28-bit SPI field (0 for plaintext).
    public var securityParameterIndexValue: UInt32
    public var sequenceNumber: UInt32

    public init(packetType: PacketType, securityParameterIndexValue: UInt32, sequenceNumber: UInt32) {
        self.packetTypeValue = packetType.rawValue
        self.securityParameterIndexValue = securityParameterIndexValue & SecurityParameterIndex.maximum
        self.sequenceNumber = sequenceNumber
    }

    /// The Packet Type, or nil when the 4-bit value is not one this implementation knows.
    public var packetType: PacketType? { PacketType(rawValue: packetTypeValue) }

    /// Reads the header at `offset`, or nil when fewer than 8 bytes are there.
    public init?(from bytes: UnsafeRawBufferPointer, at offset: Int = 0) {
        guard offset >= 0, bytes.count - offset >= Self.length else { return nil }
        let first = bytes.loadBigEndianUInt32(at: offset)
        self.packetTypeValue = UInt8(truncatingIfNeeded: first >> 28)
        self.securityParameterIndexValue = first & SecurityParameterIndex.maximum
        self.sequenceNumber = bytes.loadBigEndianUInt32(at: offset + 4)
    }

    /// Writes the 8 header octets at `offset`.
    ///
    /// - Precondition: `offset + 8 <= bytes.count`; callers size their buffers from the suite's headroom.
    public func write(to bytes: UnsafeMutableRawBufferPointer, at offset: Int) {
        precondition(offset >= 0 && bytes.count - offset >= Self.length, "header does not fit the buffer")
        bytes.storeBigEndian(UInt32(packetTypeValue & 0x0F) << 28 | securityParameterIndexValue, at: offset)
        bytes.storeBigEndian(sequenceNumber, at: offset + 4)
    }
}
