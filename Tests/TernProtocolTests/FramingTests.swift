import Testing
import TernProtocol
import TernTestSupport

@Suite("Data channel header (RFC 6618 §6.1–6.2)")
struct DataChannelHeaderTests {
    @Test("PType in the top 4 bits, SPI in the low 28, then the Sequence Number, big-endian")
    func layout() {
        var bytes = [UInt8](repeating: 0xEE, count: 10)
        let header = DataChannelHeader(
            packetType: .mobilityHeader, securityParameterIndexValue: 0x0ABC_DEF1, sequenceNumber: 0x0102_0304)
        bytes.withUnsafeMutableBytes { header.write(to: $0, at: 1) }
        #expect(hexString(bytes) == "ee8abcdef101020304ee")
        let parsed = bytes.withUnsafeBytes { DataChannelHeader(from: $0, at: 1) }
        #expect(parsed == header)
        #expect(parsed?.packetType == .mobilityHeader)
    }

    @Test("fewer than 8 octets do not parse", arguments: 0..<8)
    func truncated(length: Int) {
        let bytes = [UInt8](repeating: 0x10, count: length)
        #expect(bytes.withUnsafeBytes { DataChannelHeader(from: $0) } == nil)
    }

    @Test("unknown Packet Types are kept raw, not guessed")
    func unknownType() {
        let bytes: [UInt8] = [0x30, 0, 0, 1, 0, 0, 0, 1]
        let parsed = bytes.withUnsafeBytes { DataChannelHeader(from: $0) }
        #expect(parsed?.packetTypeValue == 3)
        #expect(parsed?.packetType == nil)
    }

    @Test("SPI: 0 and values above 28 bits are not SPIs (RFC 6618 §5.6.1)")
    func spiRange() {
        #expect(SecurityParameterIndex(rawValue: 0) == nil)
        #expect(SecurityParameterIndex(rawValue: 1)?.rawValue == 1)
        #expect(SecurityParameterIndex(rawValue: 268_435_455)?.rawValue == 268_435_455)
        #expect(SecurityParameterIndex(rawValue: 268_435_456) == nil)
    }
}

@Suite("ESP trailer (RFC 4303 §2.4–2.6)")
struct ESPTrailerTests {
    /// Writes payload + trailer as a sender would, for `alignment`.
    private func padded(_ payload: [UInt8], alignment: Int, nextHeader: UInt8) -> [UInt8] {
        let padding = (alignment - (payload.count + 2) % alignment) % alignment
        var buffer = payload + [UInt8](repeating: 0xEE, count: padding + 2)
        let end = buffer.withUnsafeMutableBytes {
            ESPTrailer.write(into: $0, payloadEnd: payload.count, paddingLength: padding, nextHeader: nextHeader)
        }
        #expect(end == buffer.count)
        return buffer
    }

    @Test("padding matches RFC 3602 §4 cases 5–8 (pre-encryption octets)", arguments: aesCBCESPVectors)
    func rfc3602(vector: ESPCBCVector) {
        let suite = Ciphersuite.aes128CBCSHA
        let payload = hex(vector.payload)
        #expect(suite.paddingLength(forPayloadLength: payload.count) == Int(vector.padLength), "\(vector.source)")
        let written = padded(payload, alignment: suite.alignment, nextHeader: vector.nextHeader)
        #expect(hexString(written) == vector.preEncryption, "\(vector.source)")
    }

    @Test("padding to 4 octets matches the RFC 7634 Appendix A plaintext")
    func rfc7634() throws {
        let vector = try #require(chachaVectors.first { $0.source.hasPrefix("RFC 7634") })
        let plaintext = hex(vector.plaintext)
        // The example's trailer is 01 02 | Pad Length 02 | Next Header 04 after an 84-octet packet.
        let payload = Array(plaintext.dropLast(4))
        #expect(Ciphersuite.chacha20Poly1305SHA256.paddingLength(forPayloadLength: payload.count) == 2)
        #expect(padded(payload, alignment: 4, nextHeader: 4) == plaintext)
    }

    @Test("parse returns the payload end and Next Header for every valid padding length")
    func parseValid() throws {
        for paddingLength in 0...255 {
            var buffer = [UInt8](repeating: 0x45, count: 10) + [UInt8](repeating: 0, count: paddingLength + 2)
            _ = buffer.withUnsafeMutableBytes {
                ESPTrailer.write(into: $0, payloadEnd: 10, paddingLength: paddingLength, nextHeader: 41)
            }
            let (end, nextHeader) = try buffer.withUnsafeBytes { try ESPTrailer.parse($0, data: 0..<$0.count) }
            #expect(end == 10 && nextHeader == 41)
        }
    }

    @Test("parse rejects wrong padding octets and oversized Pad Length")
    func parseInvalid() {
        // Pad Length 3 but the padding reads 01 02 04.
        let badPadding: [UInt8] = [0x45, 1, 2, 4, 3, 4]
        #expect(throws: DataChannelDropReason.badPadding) {
            try badPadding.withUnsafeBytes { try ESPTrailer.parse($0, data: 0..<$0.count) }
        }
        // Pad Length 5 with only 4 octets before the trailer.
        let badLength: [UInt8] = [1, 2, 3, 4, 5, 4]
        #expect(throws: DataChannelDropReason.badPadLength) {
            try badLength.withUnsafeBytes { try ESPTrailer.parse($0, data: 0..<$0.count) }
        }
        for length in 0..<2 {
            let short = [UInt8](repeating: 0, count: length)
            #expect(throws: DataChannelDropReason.truncated) {
                try short.withUnsafeBytes { try ESPTrailer.parse($0, data: 0..<$0.count) }
            }
        }
    }
}

@Suite("Ciphersuites (RFC 6618 §5.6.5 and DESIGN.md)")
struct CiphersuiteTests {
    @Test("the DESIGN table: key lengths, IVs, ICVs, alignment")
    func table() {
        typealias Row = (Ciphersuite, String, Int, Int, Int, Int, Int)  // suite, code, ekey, ikey, iv, icv, align
        let rows: [Row] = [
            (.nullSHA, "{00,02}", 0, 20, 0, 12, 4),
            (.nullSHA256, "{00,3B}", 0, 16, 0, 12, 4),
            (.tripleDESEDECBCSHA, "{00,0A}", 24, 20, 8, 12, 8),
            (.aes128CBCSHA, "{00,2F}", 16, 20, 16, 12, 16),
            (.aes128CBCSHA256, "{00,3C}", 16, 16, 16, 12, 16),
            (.aes128GCMSHA256, "{13,01}", 20, 0, 0, 16, 4),
            (.aes256GCMSHA384, "{13,02}", 36, 0, 0, 16, 4),
            (.chacha20Poly1305SHA256, "{13,03}", 36, 0, 0, 16, 4),
        ]
        #expect(rows.count == Ciphersuite.allCases.count)
        for (suite, code, ekey, ikey, iv, icv, alignment) in rows {
            #expect(suite.description == code)
            #expect(suite.encryptionKeyLength == ekey, "\(code)")
            #expect(suite.integrityKeyLength == ikey, "\(code)")
            #expect(suite.ivLength == iv, "\(code)")
            #expect(suite.icvLength == icv, "\(code)")
            #expect(suite.alignment == alignment, "\(code)")
        }
        #expect(Ciphersuite.default == .aes128GCMSHA256)
    }

    @Test("parsing: either case, whitespace tolerated; round trip of every suite")
    func parsing() throws {
        for suite in Ciphersuite.allCases {
            #expect(try Ciphersuite(parsing: suite.description) == suite)
            #expect(try Ciphersuite(parsing: suite.description.lowercased()) == suite)
        }
        #expect(try Ciphersuite(parsing: " { 00 , 2f } ") == .aes128CBCSHA)
        #expect(
            try Ciphersuite.parseList("{00,2F},{13,01}, {00,3c}") == [.aes128CBCSHA, .aes128GCMSHA256, .aes128CBCSHA256])
        #expect(Ciphersuite.formatList([.aes128CBCSHA, .aes128GCMSHA256]) == "{00,2F},{13,01}")
    }

    @Test(
        "malformed and unsupported suites are refused with a reason",
        arguments: ["", "{}", "{00,2F", "00,2F}", "{0,2F}", "{000,2F}", "{00;2F}", "{zz,2F}", "{00,2F,01}",
                    "{00" + String(repeating: " ", count: 20) + ",2F}"])
    func malformed(text: String) {
        #expect(throws: CiphersuiteParseError.self) { try Ciphersuite(parsing: text) }
    }

    @Test func unsupported() {
        #expect(throws: CiphersuiteParseError.unsupported("{00,05}")) { try Ciphersuite(parsing: "{00,05}") }
        #expect(throws: CiphersuiteParseError.self) { try Ciphersuite.parseList("{00,2F},") }
        #expect(throws: CiphersuiteParseError.self) { try Ciphersuite.parseList("{00,2F}{13,01}") }
        #expect(throws: CiphersuiteParseError.self) { try Ciphersuite.parseList("") }
    }

    @Test("the largest payload for a datagram length fits, and one more octet does not")
    func largestPayload() {
        for suite in Ciphersuite.allCases {
            for datagram in [100, 1280, 1452, 1472] {
                let payload = suite.largestPayload(forDatagramLength: datagram)
                func size(_ p: Int) -> Int { suite.headroom + p + suite.paddingLength(forPayloadLength: p) + 2 + suite.icvLength }
                #expect(size(payload) <= datagram)
                #expect(size(payload + 1) > datagram, "size grows with the payload, so nothing larger fits")
            }
        }
        #expect(Ciphersuite.aes128GCMSHA256.largestPayload(forDatagramLength: 1452) == 1426)
    }

    @Test("padding gives the fewest octets that align payload + 2")
    func padding() {
        for suite in Ciphersuite.allCases {
            for length in 0...64 {
                let padding = suite.paddingLength(forPayloadLength: length)
                #expect((length + padding + 2) % suite.alignment == 0)
                #expect(padding < suite.alignment)
                #expect(padding + 2 + suite.icvLength <= suite.tailroom)
            }
        }
    }
}

@Suite("Drop reasons")
struct DropReasonTests {
    @Test("every reason has its own counter slot and its own label")
    func distinct() {
        #expect(DataChannelDropReason.allCases.count <= DataChannelDropCounters.capacity)
        #expect(Set(DataChannelDropReason.allCases.map(\.label)).count == DataChannelDropReason.allCases.count)
        #expect(Set(DataChannelDropReason.allCases.map(\.description)).count == DataChannelDropReason.allCases.count)
        var counters = DataChannelDropCounters()
        for (index, reason) in DataChannelDropReason.allCases.enumerated() {
            for _ in 0...index { counters.record(reason) }
        }
        for (index, reason) in DataChannelDropReason.allCases.enumerated() {
            #expect(counters[reason] == UInt64(index + 1))
        }
        let n = UInt64(DataChannelDropReason.allCases.count)
        #expect(counters.total == n * (n + 1) / 2)
    }
}
