import Testing
import TernProtocol
import TernTestSupport

// Known-answer vectors, written by hand from RFC 6275 §6.1.1, §6.1.7–6.1.9, §6.2 and RFC 5555 §3.1–3.2.
// Offsets in the comments count from the first octet of the Mobility Header, which is what the xn+y
// alignment rules refer to. Options start at offset 12 in a BU or BA and at 24 in a BE.

/// BU: A|H, Sequence # 0x1234, Lifetime 0x0096, IPv4 CoA 192.0.2.10, IPv4 HoA 10.1.2.3/32 (P = 0).
private let buWithIPv4Options = MobilityMessage.bindingUpdate(
    BindingUpdate(
        sequenceNumber: 0x1234, flags: [.acknowledge, .homeRegistration], lifetimeUnits: 0x0096,
        options: [
            .ipv4CareOfAddress(IPv4Address(192, 0, 2, 10)),
            .ipv4HomeAddress(address: IPv4Address(10, 1, 2, 3), prefixLength: 32, requestPrefix: false),
        ]))
private let buWithIPv4OptionsOctets = hex(
    """
    3b 03 05 00 0000                // offset 0: Payload Proto 59, Header Len 3 (32 octets), MH Type 5, Rsvd, Cksum 0
    1234 c000 0096                  // offset 6: Sequence #, flags A (0x8000) | H (0x4000), Lifetime
    20 06 0000 c000020a             // offset 12 = 4n, no pad: IPv4 CoA (32), Len 6, Reserved(16), 192.0.2.10
    1d 06 8000 0a010203             // offset 20 = 4n, no pad: IPv4 HoA (29), Len 6, Prefix-len 32 in the top 6 bits
                                    // (32 << 10 = 0x8000), P = 0, Reserved 0; 10.1.2.3
    01 02 0000                      // offset 28: PadN (Len 2) so the header ends at 32, a multiple of 8
    """.commentsRemoved)

/// BA: status 0, Sequence # 0x1234, Lifetime 0x0096, NAT Detection (F, 25 s), IPv4 Address Ack 10.1.2.3/32.
private let baWithNATOctets = hex(
    """
    3b 03 06 00 0000                // offset 0: Header Len 3 (32 octets), MH Type 6
    00 00 1234 0096                 // offset 6: Status 0, flags K R P = 0, Sequence #, Lifetime
    1f 06 8000 00000019             // offset 12 = 4n: NAT Detection (31), Len 6, F = 1 then 15 reserved bits,
                                    // Refresh time 25 s
    1e 06 00 80 0a010203            // offset 20 = 4n: IPv4 Address Ack (30), Len 6, Status 0, Pref-len 32 in the
                                    // top 6 bits of the octet (32 << 2 = 0x80), 10.1.2.3
    01 02 0000                      // offset 28: PadN to 32
    """.commentsRemoved)
private let baWithNAT = MobilityMessage.bindingAcknowledgement(
    BindingAcknowledgement(
        status: .accepted, sequenceNumber: 0x1234, lifetimeUnits: 0x0096,
        options: [
            .natDetection(udpEncapsulationRequired: true, refreshTimeSeconds: 25),
            .ipv4AddressAcknowledgement(status: .success, address: IPv4Address(10, 1, 2, 3), prefixLength: 32),
        ]))

/// BA: status 135 (sequence number out of window) carrying the last accepted Sequence # 0x0042, no options.
private let baOutOfWindowOctets = hex(
    """
    3b 01 06 00 0000                // offset 0: Header Len 1 (16 octets)
    87 00 0042 0000                 // offset 6: Status 135, flags 0, Sequence # 0x0042, Lifetime 0
    01 02 0000                      // offset 12: PadN to 16
    """.commentsRemoved)
private let baOutOfWindow = MobilityMessage.bindingAcknowledgement(
    BindingAcknowledgement(status: .sequenceNumberOutOfWindow, sequenceNumber: 0x42, lifetimeUnits: 0, options: []))

/// BU with the Alternate CoA option (8n+6, RFC 6275 §6.2.5): the option cannot start at 12.
private let buWithAlternateCoAOctets = hex(
    """
    3b 03 05 00 0000                // offset 0: Header Len 3 (32 octets)
    0001 c000 0096                  // offset 6: Sequence # 1, A|H, Lifetime 0x96
    01 00                           // offset 12: PadN with Len 0 (2 octets) so the option starts at 14 = 8*1+6
    03 10 20010db8000000000000000000000001
                                    // offset 14: Alternate CoA (3), Len 16, 2001:db8::1 at offset 16 (8-aligned);
                                    // ends at 32: no final padding
    """.commentsRemoved)
private let buWithAlternateCoA = MobilityMessage.bindingUpdate(
    BindingUpdate(
        sequenceNumber: 1, flags: [.acknowledge, .homeRegistration], lifetimeUnits: 0x0096,
        options: [.alternateCareOfAddress(IPv6Address("2001:db8::1")!)]))

/// BE: status 2 (unrecognized MH Type), Home Address fd77::2.
private let bindingErrorOctets = hex(
    """
    3b 02 07 00 0000                // offset 0: Header Len 2 (24 octets), MH Type 7
    02 00                           // offset 6: Status 2, Reserved
    fd770000000000000000000000000002
                                    // offset 8: Home Address; the header ends at 24, no options, no padding
    """.commentsRemoved)
private let bindingError = MobilityMessage.bindingError(
    BindingError(status: 2, homeAddress: IPv6Address("fd77::2")!, options: []))

/// BA with an unknown option of odd length before a Binding Refresh Advice (2n): a Pad1 is needed.
private let baWithPad1Octets = hex(
    """
    3b 02 06 00 0000                // offset 0: Header Len 2 (24 octets)
    00 80 0007 0096                 // offset 6: Status 0, K = 1, Sequence # 7, Lifetime
    c8 01 aa                        // offset 12: unknown option 200, Len 1, one data octet (unknown: no alignment)
    00                              // offset 15: Pad1 so Binding Refresh Advice starts at 16 = 2n
    02 02 0020                      // offset 16: Binding Refresh Advice (2), Len 2, 32 units
    01 02 0000                      // offset 20: PadN to 24
    """.commentsRemoved)
private let baWithPad1 = MobilityMessage.bindingAcknowledgement(
    BindingAcknowledgement(
        status: .accepted, flags: .keyManagementMobility, sequenceNumber: 7, lifetimeUnits: 0x0096,
        options: [.unknown(type: 200, data: [0xAA]), .bindingRefreshAdvice(intervalUnits: 32)]))

struct KnownVector: Sendable, CustomTestStringConvertible {
    var name: String
    var message: MobilityMessage
    var octets: [UInt8]
    var testDescription: String { name }
}

private let knownVectors = [
    KnownVector(name: "BU + IPv4 CoA + IPv4 HoA", message: buWithIPv4Options, octets: buWithIPv4OptionsOctets),
    KnownVector(name: "BA 0 + NAT Detection + IPv4 Ack", message: baWithNAT, octets: baWithNATOctets),
    KnownVector(name: "BA 135", message: baOutOfWindow, octets: baOutOfWindowOctets),
    KnownVector(name: "BU + Alternate CoA", message: buWithAlternateCoA, octets: buWithAlternateCoAOctets),
    KnownVector(name: "Binding Error", message: bindingError, octets: bindingErrorOctets),
    KnownVector(name: "BA + unknown + Pad1 + BRA", message: baWithPad1, octets: baWithPad1Octets),
]

extension String {
    /// The hex of a vector written with `//` comments beside and between the octets.
    fileprivate var commentsRemoved: String {
        split(separator: "\n")
            .map { line in line.split(separator: "//", maxSplits: 1, omittingEmptySubsequences: false)[0] }
            .joined()
    }
}

@Suite("Mobility Header codec: known octets (RFC 6275 §6.1, §6.2; RFC 5555 §3.1–3.2)")
struct MobilityHeaderKnownVectorTests {
    @Test("encodes to the hand-written octets", arguments: knownVectors)
    func encodes(vector: KnownVector) {
        #expect(hexString(MobilityHeaderCodec.encode(vector.message)) == hexString(vector.octets))
    }

    @Test("decodes the hand-written octets", arguments: knownVectors)
    func decodes(vector: KnownVector) throws {
        #expect(try MobilityHeaderCodec.decode(vector.octets) == vector.message)
    }

    @Test("the vectors are whole headers: Header Len = length / 8 - 1 (RFC 6275 §6.1.1)", arguments: knownVectors)
    func headerLength(vector: KnownVector) {
        #expect(vector.octets.count % 8 == 0)
        #expect(Int(vector.octets[1]) == vector.octets.count / 8 - 1)
    }

    @Test("IPv4 HoA bit layout: Prefix-len(6) | P(1) | Reserved(9) (RFC 5555 §3.1.1)")
    func ipv4HomeAddressBits() throws {
        let message = MobilityMessage.bindingUpdate(
            BindingUpdate(
                sequenceNumber: 0, flags: [], lifetimeUnits: 0,
                options: [.ipv4HomeAddress(address: .any, prefixLength: 24, requestPrefix: true)]))
        let octets = MobilityHeaderCodec.encode(message)
        // 24 << 10 = 0x6000, P = 0x0200.
        #expect(hexString(octets[12..<20]) == "1d06620000000000")
        #expect(try MobilityHeaderCodec.decode(octets) == message)
    }

    @Test("BU flags are carried as received, reserved bits included (RFC 6275 §6.1.7, RFC 5555 §3.1.3)")
    func bindingUpdateFlags() throws {
        let all = BindingUpdateFlags(rawValue: 0xFFFF)
        let message = MobilityMessage.bindingUpdate(
            BindingUpdate(sequenceNumber: 0xFFFF, flags: all, lifetimeUnits: 0xFFFF, options: []))
        let octets = MobilityHeaderCodec.encode(message)
        #expect(hexString(octets) == "3b0105000000ffffffffffff01020000")
        #expect(try MobilityHeaderCodec.decode(octets) == message)
        #expect(BindingUpdateFlags.forceUDPEncapsulation.rawValue == 0x0100)
    }

    @Test("received Checksum and Reserved octets are ignored (DESIGN.md: checksum sent as 0, not checked)")
    func checksumIgnored() throws {
        var octets = buWithIPv4OptionsOctets
        octets[3] = 0xFF
        octets[4] = 0x12
        octets[5] = 0x34
        #expect(try MobilityHeaderCodec.decode(octets) == buWithIPv4Options)
    }

    @Test("Pad1 and PadN anywhere are skipped; unknown options kept; alignment not enforced on receive")
    func liberalDecoding() throws {
        let octets = hex(
            """
            3b 03 05 00 0000                // offset 0: 32 octets, BU
            0009 8000 0010                  // offset 6: Sequence # 9, A, Lifetime 16
            00                              // offset 12: Pad1
            01 01 00                        // offset 13: PadN, Len 1
            80 02 abcd                      // offset 16: unknown option 128, Len 2
            00                              // offset 20: Pad1
            20 06 0000 c0000201             // offset 21: IPv4 CoA at 4n+1 (misaligned, still accepted)
            00 00 00                        // offset 29: three Pad1 to 32
            """.commentsRemoved)
        let expected = MobilityMessage.bindingUpdate(
            BindingUpdate(
                sequenceNumber: 9, flags: .acknowledge, lifetimeUnits: 16,
                options: [.unknown(type: 128, data: [0xAB, 0xCD]), .ipv4CareOfAddress(IPv4Address(192, 0, 2, 1))]))
        #expect(try MobilityHeaderCodec.decode(octets) == expected)
    }

    @Test("PadN with non-zero contents is still skipped (RFC 6275 §6.2.2: receivers ignore the contents)")
    func padNContentsIgnored() throws {
        var octets = baOutOfWindowOctets
        octets[14] = 0xEE
        octets[15] = 0x01
        #expect(try MobilityHeaderCodec.decode(octets) == baOutOfWindow)
    }
}

@Suite("Mobility Header codec: encoding into a buffer")
struct MobilityHeaderBufferTests {
    @Test("writes only the header's octets and returns its length")
    func writesPrefix() throws {
        var buffer = [UInt8](repeating: 0xEE, count: 40)
        let written = try buffer.withUnsafeMutableBytes { bytes throws(MobilityHeaderError) in
            try MobilityHeaderCodec.encode(buWithIPv4Options, into: bytes)
        }
        #expect(written == 32)
        #expect(Array(buffer[..<32]) == buWithIPv4OptionsOctets)
        #expect(buffer[32...].allSatisfy { $0 == 0xEE })
        #expect(try MobilityHeaderCodec.encodedLength(of: buWithIPv4Options) == 32)
    }

    @Test("a buffer one octet short throws bufferTooSmall and is left untouched")
    func tooSmall() {
        var buffer = [UInt8](repeating: 0xEE, count: 31)
        #expect(throws: MobilityHeaderError.bufferTooSmall(needed: 32, had: 31)) {
            try buffer.withUnsafeMutableBytes { bytes throws(MobilityHeaderError) in
                try MobilityHeaderCodec.encode(buWithIPv4Options, into: bytes)
            }
        }
        #expect(buffer.allSatisfy { $0 == 0xEE })
        #expect(throws: MobilityHeaderError.bufferTooSmall(needed: 32, had: 0)) {
            try MobilityHeaderCodec.encode(buWithIPv4Options, into: UnsafeMutableRawBufferPointer(start: nil, count: 0))
        }
    }

    @Test("values that cannot be encoded are refused with a reason")
    func unencodable() {
        func bu(_ options: [MobilityOption]) -> MobilityMessage {
            .bindingUpdate(BindingUpdate(sequenceNumber: 0, flags: [], lifetimeUnits: 0, options: options))
        }
        #expect(throws: MobilityHeaderError.unknownOptionWithKnownType(1)) {
            try MobilityHeaderCodec.encodedLength(of: bu([.unknown(type: 1, data: [0])]))
        }
        #expect(throws: MobilityHeaderError.unknownOptionWithKnownType(31)) {
            try MobilityHeaderCodec.encodedLength(of: bu([.unknown(type: 31, data: [])]))
        }
        #expect(throws: MobilityHeaderError.optionDataTooLong(type: 99, length: 256)) {
            try MobilityHeaderCodec.encodedLength(of: bu([.unknown(type: 99, data: Array(repeating: 0, count: 256))]))
        }
        #expect(throws: MobilityHeaderError.prefixLengthOutOfRange(64)) {
            try MobilityHeaderCodec.encodedLength(
                of: bu([.ipv4HomeAddress(address: .any, prefixLength: 64, requestPrefix: false)]))
        }
        let many = Array(repeating: MobilityOption.unknown(type: 99, data: Array(repeating: 0, count: 200)), count: 6)
        // Five fit (12 + 5 * 202 = 1022, padded to 1024); the sixth goes past the limit.
        #expect(throws: MobilityHeaderError.tooLong(length: 12 + 6 * 202)) {
            try MobilityHeaderCodec.encodedLength(of: bu(many))
        }
    }
}

// MARK: Randomised round trips

/// Walks an encoded header's options independently of the decoder: (type, offset) of each option other
/// than padding, and whether every padding octet was zero.
private func optionLayout(_ octets: [UInt8], from start: Int) -> (options: [(UInt8, Int)], paddingZero: Bool)? {
    var offset = start
    var found: [(UInt8, Int)] = []
    var paddingZero = true
    while offset < octets.count {
        let type = octets[offset]
        if type == 0 {
            offset += 1
            continue
        }
        guard offset + 2 <= octets.count else { return nil }
        let length = Int(octets[offset + 1])
        guard offset + 2 + length <= octets.count else { return nil }
        if type == 1 {
            paddingZero = paddingZero && octets[(offset + 2)..<(offset + 2 + length)].allSatisfy { $0 == 0 }
        } else {
            found.append((type, offset))
        }
        offset += 2 + length
    }
    return (found, paddingZero)
}

private func randomOption(_ random: inout SeededRandom) -> MobilityOption {
    func v4() -> IPv4Address { IPv4Address(rawValue: UInt32.random(in: 0...UInt32.max, using: &random)) }
    switch Int.random(in: 0..<7, using: &random) {
    case 0: return .bindingRefreshAdvice(intervalUnits: UInt16.random(in: 0...UInt16.max, using: &random))
    case 1:
        return .alternateCareOfAddress(
            IPv6Address(high: random.next(), low: random.next()))
    case 2:
        return .ipv4HomeAddress(
            address: v4(), prefixLength: UInt8.random(in: 0...63, using: &random),
            requestPrefix: Bool.random(using: &random))
    case 3:
        return .ipv4AddressAcknowledgement(
            status: IPv4AddressAcknowledgementStatus(rawValue: UInt8.random(in: 0...255, using: &random)),
            address: v4(), prefixLength: UInt8.random(in: 0...63, using: &random))
    case 4:
        return .natDetection(
            udpEncapsulationRequired: Bool.random(using: &random),
            refreshTimeSeconds: UInt32.random(in: 0...UInt32.max, using: &random))
    case 5: return .ipv4CareOfAddress(v4())
    default:
        let unknownTypes = Array(4...28) + Array(33...255)
        let type = UInt8(unknownTypes[Int.random(in: 0..<unknownTypes.count, using: &random)])
        return .unknown(type: type, data: random.bytes(Int.random(in: 0...24, using: &random)))
    }
}

private func randomMessage(_ random: inout SeededRandom) -> MobilityMessage {
    let options = (0..<Int.random(in: 0...8, using: &random)).map { _ in randomOption(&random) }
    func u16() -> UInt16 { UInt16.random(in: 0...UInt16.max, using: &random) }
    func u8() -> UInt8 { UInt8.random(in: 0...UInt8.max, using: &random) }
    switch Int.random(in: 0..<3, using: &random) {
    case 0:
        return .bindingUpdate(
            BindingUpdate(
                sequenceNumber: u16(), flags: BindingUpdateFlags(rawValue: u16()), lifetimeUnits: u16(),
                options: options))
    case 1:
        return .bindingAcknowledgement(
            BindingAcknowledgement(
                status: BindingAcknowledgementStatus(rawValue: u8()),
                flags: BindingAcknowledgementFlags(rawValue: u8()),
                sequenceNumber: u16(), lifetimeUnits: u16(), options: options))
    default:
        return .bindingError(
            BindingError(
                status: u8(), homeAddress: IPv6Address(high: random.next(), low: random.next()), options: options))
    }
}

private func optionsStart(_ message: MobilityMessage) -> Int {
    if case .bindingError = message { 24 } else { 12 }
}

/// The alignment xn+y each option type needs (RFC 6275 §6.2.4–6.2.5, RFC 5555 §3.1–3.2); 1n for others.
private func requiredAlignment(_ type: UInt8) -> (Int, Int) {
    switch type {
    case 2: (2, 0)
    case 3: (8, 6)
    case 29, 30, 31, 32: (4, 0)
    default: (1, 0)
    }
}

@Suite("Mobility Header codec: randomised round trips (RFC 6275 §6.1.1, §6.2)")
struct MobilityHeaderRoundTripTests {
    @Test("5000 random messages: length % 8 == 0, Header Len right, options aligned, padding zero, decode inverts")
    func roundTrip() throws {
        var random = SeededRandom(seed: 0x6275_5555)
        for _ in 0..<5000 {
            let message = randomMessage(&random)
            let octets = MobilityHeaderCodec.encode(message)
            #expect(octets.count % 8 == 0)
            #expect(Int(octets[1]) == octets.count / 8 - 1)
            #expect(octets[0] == 59 && octets[3] == 0 && octets[4] == 0 && octets[5] == 0)
            let layout = try #require(optionLayout(octets, from: optionsStart(message)))
            #expect(layout.paddingZero)
            for (type, offset) in layout.options {
                let (multiple, remainder) = requiredAlignment(type)
                #expect(offset % multiple == remainder, "option \(type) at \(offset) in \(hexString(octets))")
            }
            let decoded = try MobilityHeaderCodec.decode(octets)
            #expect(decoded == message, "\(hexString(octets))")
        }
    }
}

// MARK: Rejections

@Suite("Mobility Header codec: rejections (RFC 6275 §9.2)")
struct MobilityHeaderRejectionTests {
    @Test("every truncation of a valid header throws", arguments: knownVectors)
    func truncations(vector: KnownVector) {
        for length in 0..<vector.octets.count {
            #expect(throws: MobilityHeaderError.self) {
                try MobilityHeaderCodec.decode(Array(vector.octets[..<length]))
            }
        }
    }

    @Test("fewer than 8 octets: truncated")
    func short() {
        #expect(throws: MobilityHeaderError.truncated(needed: 8, had: 7)) {
            try MobilityHeaderCodec.decode(Array(buWithIPv4OptionsOctets[..<7]))
        }
    }

    @Test("Header Len must match the octets given (RFC 6275 §9.2)")
    func headerLengthMismatch() {
        var octets = buWithIPv4OptionsOctets
        octets[1] = 2
        #expect(throws: MobilityHeaderError.lengthMismatch(headerLength: 2, actual: 32)) {
            try MobilityHeaderCodec.decode(octets)
        }
        octets[1] = 4
        #expect(throws: MobilityHeaderError.lengthMismatch(headerLength: 4, actual: 32)) {
            try MobilityHeaderCodec.decode(octets)
        }
        // Trailing octets after a correct header are not ignored.
        #expect(throws: MobilityHeaderError.lengthMismatch(headerLength: 3, actual: 40)) {
            try MobilityHeaderCodec.decode(buWithIPv4OptionsOctets + [UInt8](repeating: 0, count: 8))
        }
        #expect(throws: MobilityHeaderError.lengthMismatch(headerLength: 3, actual: 33)) {
            try MobilityHeaderCodec.decode(buWithIPv4OptionsOctets + [0])
        }
    }

    @Test("Payload Proto other than 59 (RFC 6275 §6.1.1)", arguments: [0, 6, 17, 58, 60, 135, 255] as [UInt8])
    func payloadProto(value: UInt8) {
        var octets = buWithIPv4OptionsOctets
        octets[0] = value
        #expect(throws: MobilityHeaderError.payloadProtoNot59(value)) { try MobilityHeaderCodec.decode(octets) }
    }

    @Test(
        "unknown MH Type keeps its value, for Binding Error status 2 (RFC 6275 §9.2)",
        arguments: [0, 1, 4, 8, 9, 255] as [UInt8])
    func unknownType(type: UInt8) {
        var octets = buWithIPv4OptionsOctets
        octets[2] = type
        #expect(throws: MobilityHeaderError.unknownMessageType(type)) { try MobilityHeaderCodec.decode(octets) }
    }

    @Test("a header too short for its type's fixed data (BU/BA 12 octets, BE 24)")
    func tooShortForType() {
        #expect(throws: MobilityHeaderError.messageTooShortForType(type: 5, length: 8)) {
            try MobilityHeaderCodec.decode(hex("3b00050000000000"))
        }
        #expect(throws: MobilityHeaderError.messageTooShortForType(type: 6, length: 8)) {
            try MobilityHeaderCodec.decode(hex("3b00060000000000"))
        }
        #expect(throws: MobilityHeaderError.messageTooShortForType(type: 7, length: 16)) {
            try MobilityHeaderCodec.decode(hex("3b01070000000200 fd77000000000000"))
        }
    }

    @Test(
        "a known option with the wrong Length (RFC 6275 §6.2, RFC 5555 §3)",
        arguments: [2, 3, 29, 30, 31, 32] as [UInt8])
    func wrongOptionLength(type: UInt8) {
        let correct: [UInt8: Int] = [2: 2, 3: 16, 29: 6, 30: 6, 31: 6, 32: 6]
        for length in [0, 1, 4, 5, 7, 8, 15, 17] where length != correct[type] {
            var octets = hex("3b00050000001234c0000096") + [type, UInt8(length)] + [UInt8](repeating: 0, count: length)
            while octets.count % 8 != 0 { octets.append(0) }  // Pad1
            octets[1] = UInt8(octets.count / 8 - 1)
            #expect(throws: MobilityHeaderError.optionLengthInvalid(type: type, length: UInt8(length), offset: 12)) {
                try MobilityHeaderCodec.decode(octets)
            }
        }
    }

    @Test("an option running past the end of the header")
    func optionPastEnd() {
        // offset 12: unknown option 128 claims 16 octets of data, only 2 remain.
        #expect(throws: MobilityHeaderError.optionTruncated(type: 128, offset: 12)) {
            try MobilityHeaderCodec.decode(hex("3b01050000001234c0000096 8010 0000"))
        }
        // offset 15: the last octet is an option Type with no room for its Length.
        #expect(throws: MobilityHeaderError.optionTruncated(type: 32, offset: 15)) {
            try MobilityHeaderCodec.decode(hex("3b01050000001234c0000096 000000 20"))
        }
        // A PadN that overruns is rejected too.
        #expect(throws: MobilityHeaderError.optionTruncated(type: 1, offset: 12)) {
            try MobilityHeaderCodec.decode(hex("3b01050000001234c0000096 0103 0000"))
        }
    }

    @Test("more than maximumLength octets are refused before anything else is read")
    func oversized() throws {
        // The largest accepted header: a BU whose option area is unknown options.
        var largest = hex("3b7f050000001234c0000096")
        while largest.count < MobilityHeaderCodec.maximumLength {
            let room = MobilityHeaderCodec.maximumLength - largest.count - 2
            let length = min(room, 255)
            largest += [200, UInt8(length)] + [UInt8](repeating: 0x5A, count: length)
        }
        #expect(largest.count == MobilityHeaderCodec.maximumLength)
        #expect(throws: Never.self) { try MobilityHeaderCodec.decode(largest) }
        var oversized = largest + [UInt8](repeating: 0, count: 8)
        oversized[1] = UInt8(oversized.count / 8 - 1)
        #expect(throws: MobilityHeaderError.tooLong(length: 1032)) { try MobilityHeaderCodec.decode(oversized) }
        #expect(throws: MobilityHeaderError.tooLong(length: 65536)) {
            try MobilityHeaderCodec.decode([UInt8](repeating: 59, count: 65536))
        }
    }

    @Test("every error describes itself")
    func descriptions() {
        let errors: [MobilityHeaderError] = [
            .truncated(needed: 8, had: 3), .lengthMismatch(headerLength: 2, actual: 32), .tooLong(length: 2000),
            .payloadProtoNot59(6), .unknownMessageType(9), .messageTooShortForType(type: 7, length: 16),
            .optionTruncated(type: 3, offset: 14), .optionLengthInvalid(type: 32, length: 5, offset: 12),
            .bufferTooSmall(needed: 32, had: 31), .optionDataTooLong(type: 99, length: 300),
            .unknownOptionWithKnownType(1), .prefixLengthOutOfRange(64),
        ]
        for error in errors { #expect(!error.description.isEmpty) }
        #expect(MobilityHeaderError.lengthMismatch(headerLength: 2, actual: 32).description.contains("24"))
        #expect(MobilityHeaderError.optionTruncated(type: 3, offset: 14).description.contains("offset 14"))
    }
}

// MARK: Fuzzing

@Suite("Mobility Header codec: fuzzing (decode or throw, never trap)")
struct MobilityHeaderFuzzTests {
    /// Whatever decodes must encode and decode back to itself.
    private func checkStable(_ octets: [UInt8]) {
        guard let message = try? MobilityHeaderCodec.decode(octets) else { return }
        guard let length = try? MobilityHeaderCodec.encodedLength(of: message),
            length <= MobilityHeaderCodec.maximumLength
        else { return }
        let again = try? MobilityHeaderCodec.decode(MobilityHeaderCodec.encode(message))
        #expect(again == message, "\(hexString(octets))")
    }

    @Test("100k random byte strings, half of them shaped like a header")
    func randomBytes() {
        var random = SeededRandom(seed: 0xF022_0001)
        var decoded = 0
        for _ in 0..<100_000 {
            var octets = random.bytes(Int.random(in: 0...72, using: &random))
            if Bool.random(using: &random), octets.count >= 8 {
                // Get past the first checks so the message data and options are exercised.
                octets[0] = 59
                octets[1] = UInt8(octets.count / 8 - 1)
                octets[2] = UInt8.random(in: 5...7, using: &random)
                octets.removeLast(octets.count % 8)
            }
            if (try? MobilityHeaderCodec.decode(octets)) != nil { decoded += 1 }
            checkStable(octets)
        }
        // The shaped half must sometimes decode, or the fuzzing never reaches the option parser's success path.
        #expect(decoded > 100)
    }

    @Test("100k random mutations of valid headers")
    func mutations() {
        var random = SeededRandom(seed: 0xF022_0002)
        for _ in 0..<100_000 {
            var octets = MobilityHeaderCodec.encode(randomMessage(&random))
            switch Int.random(in: 0..<4, using: &random) {
            case 0:
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    octets[Int.random(in: 0..<octets.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                }
            case 1:
                // Change only the option area, keeping the header consistent.
                let index = Int.random(in: min(12, octets.count - 1)..<octets.count, using: &random)
                octets[index] = UInt8.random(in: 0...255, using: &random)
            case 2:
                octets.removeLast(Int.random(in: 0...octets.count, using: &random))
            default:
                octets += random.bytes(Int.random(in: 1...16, using: &random))
                if Bool.random(using: &random) { octets[1] = UInt8(truncatingIfNeeded: octets.count / 8 - 1) }
            }
            checkStable(octets)
        }
    }
}
