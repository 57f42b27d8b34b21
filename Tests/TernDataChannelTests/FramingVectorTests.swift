import TernCrypto
@testable import TernDataChannel
import Testing
import TernProtocol
import TernTestSupport

/// One known answer of Tern's framing, computed by scripts/data-channel-vectors.py on pyca/cryptography.
struct FramingVector: Sendable, CustomTestStringConvertible {
    let suite: UInt16
    let spi: UInt32
    let sequenceNumber: UInt32
    let packetType: UInt8
    let nextHeader: UInt8
    let encryptionKey, integrityKey, iv, payload, datagram: String

    var testDescription: String {
        "\(Ciphersuite(rawValue: suite).map(\.name) ?? "?") PType \(packetType) NH \(nextHeader) "
            + "Seq \(sequenceNumber) payload \(payload.count / 2)"
    }
}

@Suite("Framing known answers (independent Python implementation of RFC 6618 §6 + DESIGN.md)")
struct FramingVectorTests {
    private func endpoints(_ vector: FramingVector) throws -> (OutboundSecurityAssociation, InboundSecurityAssociation) {
        let suite = try #require(Ciphersuite(rawValue: vector.suite))
        let spi = try #require(SecurityParameterIndex(rawValue: vector.spi))
        let keys = try DirectionalKeys(
            suite: suite, encryptionKey: hex(vector.encryptionKey), integrityKey: hex(vector.integrityKey))
        let outbound = try OutboundSecurityAssociation(
            securityParameterIndex: spi, suite: suite, keys: keys, lastSentSequenceNumber: vector.sequenceNumber - 1)
        let inbound = try InboundSecurityAssociation(
            securityParameterIndex: spi, suite: suite, scope: .allTraffic, keys: keys)
        return (outbound, inbound)
    }

    @Test("seal produces exactly the reference octets", arguments: framingVectors)
    func seal(vector: FramingVector) throws {
        let (outbound, _) = try endpoints(vector)
        let suite = outbound.suite
        let payload = hex(vector.payload)
        let packetType = try #require(PacketType(rawValue: vector.packetType))
        let datagram: [UInt8]
        if suite.ivLength > 0 {
            // CBC IVs are fresh per packet on the wire; the vector fixes one, through the test-only path.
            var buffer = [UInt8](repeating: 0, count: suite.headroom + payload.count + suite.tailroom)
            buffer.replaceSubrange(suite.headroom..<(suite.headroom + payload.count), with: payload)
            let range = try buffer.withUnsafeMutableBytes {
                try outbound.seal(
                    packetType, nextHeader: vector.nextHeader, in: $0,
                    payload: suite.headroom..<(suite.headroom + payload.count),
                    sequenceNumber: vector.sequenceNumber, explicitIV: hex(vector.iv))
            }
            datagram = Array(buffer[range])
        } else {
            datagram = try sealed(outbound, packetType, nextHeader: vector.nextHeader, payload)
        }
        #expect(hexString(datagram) == vector.datagram)
    }

    @Test("open recovers the payload from the reference octets", arguments: framingVectors)
    func open(vector: FramingVector) throws {
        let (_, inbound) = try endpoints(vector)
        let (result, payload) = try opened(inbound, hex(vector.datagram))
        #expect(hexString(payload) == vector.payload)
        #expect(result.sequenceNumber == vector.sequenceNumber)
        #expect(result.packetType.rawValue == vector.packetType)
        #expect(result.isNewest)
        let expectedKind: OpenedDatagram.Kind =
            switch vector.nextHeader {
            case NextHeader.ipv4: .ipv4
            case NextHeader.ipv6: .ipv6
            case NextHeader.mobility: .mobilityHeader
            default: .keepalive
            }
        #expect(result.kind == expectedKind)
    }

    @Test("every suite has reference vectors")
    func coverage() {
        #expect(Set(framingVectors.map(\.suite)) == Set(Ciphersuite.allCases.map(\.rawValue)))
    }
}

@Suite("RFC 3602 §4 ESP examples through the codec (AES_128_CBC_SHA)")
struct RFC3602ESPTests {
    @Test("header, IV and ciphertext match; the ICV is HMAC-SHA1-96 over them", arguments: aesCBCESPVectors)
    func espExample(vector: ESPCBCVector) throws {
        let suite = Ciphersuite.aes128CBCSHA
        let spi = try #require(SecurityParameterIndex(rawValue: vector.spi))
        let integrityKey = [UInt8](repeating: 0x5C, count: 20)
        let keys = try DirectionalKeys(suite: suite, encryptionKey: hex(vector.key), integrityKey: integrityKey)
        let outbound = try OutboundSecurityAssociation(securityParameterIndex: spi, suite: suite, keys: keys)
        let payload = hex(vector.payload)
        var buffer = [UInt8](repeating: 0, count: suite.headroom + payload.count + suite.tailroom)
        buffer.replaceSubrange(suite.headroom..<(suite.headroom + payload.count), with: payload)
        let range = try buffer.withUnsafeMutableBytes {
            try outbound.seal(
                .userData, nextHeader: vector.nextHeader, in: $0,
                payload: suite.headroom..<(suite.headroom + payload.count), sequenceNumber: vector.sequenceNumber,
                explicitIV: hex(vector.iv))
        }
        let datagram = Array(buffer[range])
        let esp = hex(vector.espWithoutIPHeader)
        // RFC 6618's first word is PType | SPI: the same SPI with PType 1 in the top four bits.
        #expect(datagram[0] == 0x10 | esp[0])
        #expect(hexString(datagram[1..<esp.count]) == hexString(esp[1...]), "\(vector.source)")
        // HMACContext is itself checked against RFC 2202 in TernCryptoTests.
        let icv = try HMACContext(.sha1, key: integrityKey).authenticate(Array(datagram[0..<esp.count])).prefix(12)
        #expect(hexString(datagram[esp.count...]) == hexString(icv))

        // Only IP-in-IP may ride in PType 1: the transport-mode examples (Next Header 1) are refused after
        // verification, the tunnel-mode ones open.
        let inbound = try InboundSecurityAssociation(
            securityParameterIndex: spi, suite: suite, scope: .allTraffic, keys: keys)
        if vector.nextHeader == NextHeader.ipv4 {
            #expect(try opened(inbound, datagram).1 == payload)
        } else {
            #expect(dropReason(inbound, datagram) == .badNextHeader)
        }
    }
}

