// The Mobility Header on the wire (RFC 6275 §6.1.1):
//
//   | Payload Proto = 59 | Header Len | MH Type | Reserved | Checksum(16) | message data | options |
//
// Header Len counts 8-octet units after the first 8. Option alignment (RFC 6275 §6.2, RFC 5555 §3.1–3.2)
// is written xn+y: the option's Type octet sits at an offset of the form x*n+y from the start of the
// Mobility Header, which puts the option's multi-octet fields on natural boundaries.

/// Mobility option type numbers (IANA "Mobility Options" registry).
enum MobilityOptionType {
    static let pad1: UInt8 = 0
    static let padN: UInt8 = 1
    static let bindingRefreshAdvice: UInt8 = 2
    static let alternateCareOfAddress: UInt8 = 3
    static let ipv4HomeAddress: UInt8 = 29
    static let ipv4AddressAcknowledgement: UInt8 = 30
    static let natDetection: UInt8 = 31
    static let ipv4CareOfAddress: UInt8 = 32

    /// Types the codec writes or reads itself; a `.unknown` option may not carry one of them.
    static func isOwnedByCodec(_ type: UInt8) -> Bool {
        type <= alternateCareOfAddress || (ipv4HomeAddress...ipv4CareOfAddress).contains(type)
    }
}

extension MobilityOption {
    /// The option's Type octet on the wire.
    public var type: UInt8 {
        switch self {
        case .bindingRefreshAdvice: MobilityOptionType.bindingRefreshAdvice
        case .alternateCareOfAddress: MobilityOptionType.alternateCareOfAddress
        case .ipv4HomeAddress: MobilityOptionType.ipv4HomeAddress
        case .ipv4AddressAcknowledgement: MobilityOptionType.ipv4AddressAcknowledgement
        case .natDetection: MobilityOptionType.natDetection
        case .ipv4CareOfAddress: MobilityOptionType.ipv4CareOfAddress
        case .unknown(let type, _): type
        }
    }

    /// The alignment requirement xn+y of the option's Type octet, relative to the start of the Mobility
    /// Header. Unknown options are written without alignment (1n): their needs are not known.
    var alignment: (multiple: Int, offset: Int) {
        switch self {
        case .bindingRefreshAdvice: (2, 0)  // RFC 6275 §6.2.4: 2n
        case .alternateCareOfAddress: (8, 6)  // RFC 6275 §6.2.5: 8n+6
        case .ipv4HomeAddress, .ipv4AddressAcknowledgement, .natDetection, .ipv4CareOfAddress: (4, 0)  // RFC 5555: 4n
        case .unknown: (1, 0)
        }
    }
}

/// Encodes and decodes Mobility Header messages (RFC 6275 §6.1; RFC 5555 §3 options) as carried in
/// PType 8 (RFC 6618 §6). Pure: no allocation beyond the result values, no I/O, thread-safe.
public enum MobilityHeaderCodec {
    /// Largest Mobility Header Tern accepts or builds. A Binding Update with every option Tern knows is
    /// under 64 octets; 1024 leaves room for unknown options from newer peers while bounding the work a
    /// stranger's datagram can cause. A multiple of 8, and below the 2048 octets Header Len can express.
    public static let maximumLength = 1024

    /// Payload Proto: IPPROTO_NONE, nothing follows the Mobility Header (RFC 6275 §6.1.1).
    public static let payloadProto: UInt8 = 59

    /// The fixed part every Mobility Header has: Payload Proto, Header Len, MH Type, Reserved, Checksum.
    static let fixedHeaderLength = 6

    /// Where the options begin for each message type: after the fixed message data.
    static func optionsOffset(for type: MobilityHeaderType) -> Int {
        switch type {
        case .bindingUpdate: 12  // Sequence #, flags, Lifetime (RFC 6275 §6.1.7)
        case .bindingAcknowledgement: 12  // Status, K R P, Sequence #, Lifetime (§6.1.8)
        case .bindingError: 24  // Status, Reserved, Home Address (§6.1.9)
        }
    }

    // MARK: Encoding

    /// Encodes `message` as a complete Mobility Header: Payload Proto 59, Header Len, MH Type,
    /// Reserved 0, Checksum 0 (DESIGN.md: no pseudo-header exists inside PType 8, the ICV protects the
    /// message), the message data, and its options with Pad1/PadN placed so that each option meets its
    /// alignment, then padding so the whole header is a multiple of 8 octets.
    ///
    /// - Precondition: the message is encodable, i.e. ``encodedLength(of:)`` does not throw. Tern builds
    ///   the messages it sends; an unencodable one (an unknown option of over 255 octets, a prefix
    ///   length over 63, a header over ``maximumLength``) is a bug in the caller. Use
    ///   ``encode(_:into:)`` to get an error instead.
    public static func encode(_ message: MobilityMessage) -> [UInt8] {
        let length: Int
        do {
            length = try encodedLength(of: message)
        } catch {
            preconditionFailure("unencodable Mobility Header message: \(error)")
        }
        var octets = [UInt8](repeating: 0, count: length)
        let result = octets.withUnsafeMutableBytes { buffer in
            Result { () throws(MobilityHeaderError) -> Int in try encode(message, into: buffer) }
        }
        guard case .success(let written) = result, written == length else {
            preconditionFailure("Mobility Header encoder disagrees with its own length: \(result)")
        }
        return octets
    }

    /// Encodes `message` at the start of `buffer` (see ``encode(_:)`` for the layout) and returns the
    /// number of octets written; octets past that are left as they were. The data plane uses this to write
    /// straight into a packet slot.
    ///
    /// - Throws: ``MobilityHeaderError/bufferTooSmall(needed:had:)`` when `buffer` cannot hold the header
    ///   (nothing is written then), or the encoding errors of ``encodedLength(of:)``.
    public static func encode(
        _ message: MobilityMessage, into buffer: UnsafeMutableRawBufferPointer
    ) throws(MobilityHeaderError) -> Int {
        let needed = try encodedLength(of: message)
        guard buffer.count >= needed else { throw .bufferTooSmall(needed: needed, had: buffer.count) }
        var writer = OctetWriter(buffer: buffer)
        try write(message, to: &writer)
        return writer.offset
    }

    /// The number of octets ``encode(_:)`` produces for `message` (always a multiple of 8).
    ///
    /// - Throws: ``MobilityHeaderError/optionDataTooLong(type:length:)``,
    ///   ``MobilityHeaderError/unknownOptionWithKnownType(_:)``,
    ///   ``MobilityHeaderError/prefixLengthOutOfRange(_:)`` or ``MobilityHeaderError/tooLong(length:)``.
    public static func encodedLength(of message: MobilityMessage) throws(MobilityHeaderError) -> Int {
        var counter = OctetWriter(buffer: nil)
        try write(message, to: &counter)
        return counter.offset
    }

    /// The one walk over a message: counts when the writer has no buffer, writes when it has one. Sharing
    /// it keeps the length check in `encode(_:into:)` exact.
    private static func write(_ message: MobilityMessage, to writer: inout OctetWriter) throws(MobilityHeaderError) {
        let type: MobilityHeaderType
        let options: [MobilityOption]
        switch message {
        case .bindingUpdate(let update): (type, options) = (.bindingUpdate, update.options)
        case .bindingAcknowledgement(let ack): (type, options) = (.bindingAcknowledgement, ack.options)
        case .bindingError(let error): (type, options) = (.bindingError, error.options)
        }
        writer.byte(payloadProto)
        writer.byte(0)  // Header Len, patched below once the length is known
        writer.byte(type.rawValue)
        writer.byte(0)  // Reserved
        writer.uint16(0)  // Checksum (DESIGN.md: sent as 0)
        switch message {
        case .bindingUpdate(let update):
            writer.uint16(update.sequenceNumber)
            writer.uint16(update.flags.rawValue)
            writer.uint16(update.lifetimeUnits)
        case .bindingAcknowledgement(let ack):
            writer.byte(ack.status.rawValue)
            writer.byte(ack.flags.rawValue)
            writer.uint16(ack.sequenceNumber)
            writer.uint16(ack.lifetimeUnits)
        case .bindingError(let error):
            writer.byte(error.status)
            writer.byte(0)  // Reserved
            writer.ipv6(error.homeAddress)
        }
        for option in options {
            try validate(option)
            let alignment = option.alignment
            writer.pad(multiple: alignment.multiple, offset: alignment.offset)
            write(option, to: &writer)
            // Checked per option so that an absurd option list stops early instead of counting on.
            guard writer.offset <= maximumLength else { throw .tooLong(length: writer.offset) }
        }
        writer.pad(multiple: 8, offset: 0)
        guard writer.offset <= maximumLength else { throw .tooLong(length: writer.offset) }
        writer.patch(UInt8(writer.offset / 8 - 1), at: 1)
    }

    private static func validate(_ option: MobilityOption) throws(MobilityHeaderError) {
        switch option {
        case .ipv4HomeAddress(_, let prefixLength, _), .ipv4AddressAcknowledgement(_, _, let prefixLength):
            guard prefixLength < 64 else { throw .prefixLengthOutOfRange(prefixLength) }
        case .unknown(let type, let data):
            guard !MobilityOptionType.isOwnedByCodec(type) else { throw .unknownOptionWithKnownType(type) }
            guard data.count <= Int(UInt8.max) else { throw .optionDataTooLong(type: type, length: data.count) }
        case .bindingRefreshAdvice, .alternateCareOfAddress, .natDetection, .ipv4CareOfAddress:
            break
        }
    }

    /// Writes one option, Type and Length first. Field layouts: RFC 6275 §6.2.4–6.2.5, RFC 5555 §3.1.1,
    /// §3.1.2, §3.2.1, §3.2.2.
    private static func write(_ option: MobilityOption, to writer: inout OctetWriter) {
        writer.byte(option.type)
        switch option {
        case .bindingRefreshAdvice(let interval):
            writer.byte(2)
            writer.uint16(interval)
        case .alternateCareOfAddress(let address):
            writer.byte(16)
            writer.ipv6(address)
        case .ipv4HomeAddress(let address, let prefixLength, let requestPrefix):
            // Prefix-len(6) | P(1) | Reserved(9)
            writer.byte(6)
            writer.uint16(UInt16(prefixLength & 0x3F) << 10 | (requestPrefix ? 0x0200 : 0))
            writer.uint32(address.rawValue)
        case .ipv4AddressAcknowledgement(let status, let address, let prefixLength):
            // Status(8) | Pref-len(6) | Reserved(2)
            writer.byte(6)
            writer.byte(status.rawValue)
            writer.byte((prefixLength & 0x3F) << 2)
            writer.uint32(address.rawValue)
        case .natDetection(let udpEncapsulationRequired, let refreshTimeSeconds):
            // F(1) | Reserved(15) | Refresh time(32)
            writer.byte(6)
            writer.uint16(udpEncapsulationRequired ? 0x8000 : 0)
            writer.uint32(refreshTimeSeconds)
        case .ipv4CareOfAddress(let address):
            // Reserved(16) | IPv4 address(32)
            writer.byte(6)
            writer.uint16(0)
            writer.uint32(address.rawValue)
        case .unknown(_, let data):
            writer.byte(UInt8(truncatingIfNeeded: data.count))  // validated <= 255
            for octet in data { writer.byte(octet) }
        }
    }

    // MARK: Decoding

    /// Decodes one Mobility Header from exactly these octets (the payload of a PType 8 packet).
    ///
    /// Checks, in RFC 6275 §9.2 order: length within bounds, Payload Proto 59, Header Len matching the
    /// octets given, a known MH Type, the fixed data of that type present; then the options up to the end
    /// of the header. Pad1 and PadN are skipped; unknown options are kept as `.unknown` (the protocol skips
    /// them); a known option with the wrong Length, or any option running past the end, is an error.
    /// The Checksum and Reserved fields are ignored, and option alignment is not enforced (be liberal in
    /// what is accepted).
    ///
    /// Never traps, whatever the input.
    public static func decode(_ octets: UnsafeRawBufferPointer) throws(MobilityHeaderError) -> MobilityMessage {
        let count = octets.count
        guard count <= maximumLength else { throw .tooLong(length: count) }
        guard count >= 8 else { throw .truncated(needed: 8, had: count) }
        // From here on the fixed offsets below 8 are in bounds.
        guard octets[0] == payloadProto else { throw .payloadProtoNot59(octets[0]) }
        let headerLength = octets[1]
        guard (Int(headerLength) + 1) * 8 == count else {
            throw .lengthMismatch(headerLength: headerLength, actual: count)
        }
        guard let type = MobilityHeaderType(rawValue: octets[2]) else { throw .unknownMessageType(octets[2]) }
        let optionsStart = optionsOffset(for: type)
        guard count >= optionsStart else { throw .messageTooShortForType(type: type.rawValue, length: count) }
        // The fixed message data, offsets 6 ..< optionsStart, is in bounds.
        let options = try decodeOptions(octets, from: optionsStart)
        switch type {
        case .bindingUpdate:
            return .bindingUpdate(
                BindingUpdate(
                    sequenceNumber: octets.uint16(at: 6),
                    flags: BindingUpdateFlags(rawValue: octets.uint16(at: 8)),
                    lifetimeUnits: octets.uint16(at: 10),
                    options: options))
        case .bindingAcknowledgement:
            return .bindingAcknowledgement(
                BindingAcknowledgement(
                    status: BindingAcknowledgementStatus(rawValue: octets[6]),
                    flags: BindingAcknowledgementFlags(rawValue: octets[7]),
                    sequenceNumber: octets.uint16(at: 8),
                    lifetimeUnits: octets.uint16(at: 10),
                    options: options))
        case .bindingError:
            return .bindingError(
                BindingError(status: octets[6], homeAddress: octets.ipv6(at: 8), options: options))
        }
    }

    /// Decodes one Mobility Header from `octets`; see the raw-buffer overload.
    public static func decode(_ octets: [UInt8]) throws(MobilityHeaderError) -> MobilityMessage {
        let result = octets.withUnsafeBytes { bytes in
            Result { () throws(MobilityHeaderError) -> MobilityMessage in try decode(bytes) }
        }
        return try result.get()
    }

    /// The options from `start` to the end of the header. Every read is preceded by a bounds check
    /// against `octets.count`: the raw-buffer subscript is unchecked in release builds.
    private static func decodeOptions(
        _ octets: UnsafeRawBufferPointer, from start: Int
    ) throws(MobilityHeaderError) -> [MobilityOption] {
        var options: [MobilityOption] = []
        let end = octets.count
        var offset = start
        while offset < end {
            let type = octets[offset]
            if type == MobilityOptionType.pad1 {
                offset += 1
                continue
            }
            guard end - offset >= 2 else { throw .optionTruncated(type: type, offset: offset) }
            let length = octets[offset + 1]
            let data = offset + 2
            guard end - data >= Int(length) else { throw .optionTruncated(type: type, offset: offset) }
            // The option's data, octets[data ..< data + length], is in bounds.
            func require(_ expected: UInt8) throws(MobilityHeaderError) {
                guard length == expected else {
                    throw .optionLengthInvalid(type: type, length: length, offset: offset)
                }
            }
            switch type {
            case MobilityOptionType.padN:
                break
            case MobilityOptionType.bindingRefreshAdvice:
                try require(2)
                options.append(.bindingRefreshAdvice(intervalUnits: octets.uint16(at: data)))
            case MobilityOptionType.alternateCareOfAddress:
                try require(16)
                options.append(.alternateCareOfAddress(octets.ipv6(at: data)))
            case MobilityOptionType.ipv4HomeAddress:
                try require(6)
                let bits = octets.uint16(at: data)
                options.append(
                    .ipv4HomeAddress(
                        address: IPv4Address(rawValue: octets.uint32(at: data + 2)),
                        prefixLength: UInt8(truncatingIfNeeded: bits >> 10),
                        requestPrefix: bits & 0x0200 != 0))
            case MobilityOptionType.ipv4AddressAcknowledgement:
                try require(6)
                options.append(
                    .ipv4AddressAcknowledgement(
                        status: IPv4AddressAcknowledgementStatus(rawValue: octets[data]),
                        address: IPv4Address(rawValue: octets.uint32(at: data + 2)),
                        prefixLength: octets[data + 1] >> 2))
            case MobilityOptionType.natDetection:
                try require(6)
                options.append(
                    .natDetection(
                        udpEncapsulationRequired: octets.uint16(at: data) & 0x8000 != 0,
                        refreshTimeSeconds: octets.uint32(at: data + 2)))
            case MobilityOptionType.ipv4CareOfAddress:
                try require(6)
                options.append(.ipv4CareOfAddress(IPv4Address(rawValue: octets.uint32(at: data + 2))))
            default:
                options.append(.unknown(type: type, data: Array(octets[data..<(data + Int(length))])))
            }
            offset = data + Int(length)
        }
        return options
    }
}

/// A cursor over an optional output buffer. Without a buffer it only counts, which is how the encoder
/// measures a message with the very code that writes it.
///
/// With a buffer, the caller has already checked that the counted length fits, so the unchecked raw
/// stores stay inside it.
private struct OctetWriter {
    let buffer: UnsafeMutableRawBufferPointer?
    var offset = 0

    init(buffer: UnsafeMutableRawBufferPointer?) {
        self.buffer = buffer
    }

    mutating func byte(_ value: UInt8) {
        if let buffer { buffer.storeBytes(of: value, toByteOffset: offset, as: UInt8.self) }
        offset += 1
    }

    mutating func uint16(_ value: UInt16) {
        if let buffer { buffer.storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt16.self) }
        offset += 2
    }

    mutating func uint32(_ value: UInt32) {
        if let buffer { buffer.storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt32.self) }
        offset += 4
    }

    mutating func ipv6(_ address: IPv6Address) {
        if let buffer {
            buffer.storeBytes(of: address.high.bigEndian, toByteOffset: offset, as: UInt64.self)
            buffer.storeBytes(of: address.low.bigEndian, toByteOffset: offset + 8, as: UInt64.self)
        }
        offset += 16
    }

    /// Overwrites one already-written octet.
    mutating func patch(_ value: UInt8, at position: Int) {
        if let buffer { buffer.storeBytes(of: value, toByteOffset: position, as: UInt8.self) }
    }

    /// Pads with Pad1 (one octet) or PadN (Type 1, Length n-2, n-2 zero octets) until the offset has the
    /// form multiple*k + target (RFC 6275 §6.2.1–6.2.2).
    mutating func pad(multiple: Int, offset target: Int) {
        let count = ((target - offset) % multiple + multiple) % multiple
        switch count {
        case 0:
            break
        case 1:
            byte(MobilityOptionType.pad1)
        default:
            byte(MobilityOptionType.padN)
            byte(UInt8(count - 2))
            for _ in 0..<(count - 2) { byte(0) }
        }
    }
}

extension UnsafeRawBufferPointer {
    /// Callers check `offset + 2 <= count` first.
    fileprivate func uint16(at offset: Int) -> UInt16 {
        UInt16(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    /// Callers check `offset + 4 <= count` first.
    fileprivate func uint32(at offset: Int) -> UInt32 {
        UInt32(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    /// Callers check `offset + 16 <= count` first.
    fileprivate func ipv6(at offset: Int) -> IPv6Address {
        IPv6Address(
            high: UInt64(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self)),
            low: UInt64(bigEndian: loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)))
    }
}
