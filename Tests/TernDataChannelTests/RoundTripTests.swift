import Testing
@testable import TernDataChannel
import TernProtocol
import TernTestSupport

@Suite("Seal and open in place: every suite, every Packet Type, payloads 0…1500 and past the MTU")
struct RoundTripTests {
    /// Payload lengths: every length up to 1500, then around common MTUs and the largest inner packet.
    static let lengths = Array(0...1500) + [1501, 1520, 1536, 8192, 9000, DataChannel.maximumPayloadLength]

    @Test("MN→HA and HA→MN, with the buffer untouched outside the datagram", arguments: Ciphersuite.allCases)
    func roundTrip(suite: Ciphersuite) throws {
        let pair = try makePair(suite)
        let cases: [(PacketType, UInt8, OpenedDatagram.Kind)] = [
            (.userData, NextHeader.ipv4, .ipv4), (.userData, NextHeader.ipv6, .ipv6),
            (.mobilityHeader, NextHeader.mobility, .mobilityHeader),
        ]
        let canary: UInt8 = 0xC3
        let slack = 40  // octets of extra room on each side, which sealing must not touch
        var expectedSequence: UInt32 = 0
        for length in Self.lengths {
            for (packetType, nextHeader, kind) in cases {
                if length == 0 && packetType == .userData { continue }  // an IP packet is never empty
                let payload = innerPacket(nextHeader, length: length, seed: UInt8(truncatingIfNeeded: length))
                for (outbound, inbound) in [(pair.mobileNodeOut, pair.homeAgentIn), (pair.homeAgentOut, pair.mobileNodeIn)] {
                    var buffer = [UInt8](repeating: canary, count: slack + suite.headroom + length + suite.tailroom + slack)
                    let payloadStart = slack + suite.headroom
                    buffer.replaceSubrange(payloadStart..<(payloadStart + length), with: payload)
                    let result = try buffer.withUnsafeMutableBytes { raw in
                        try outbound.seal(packetType, nextHeader: nextHeader, in: raw, payload: payloadStart..<(payloadStart + length))
                    }
                    let range = result.range
                    let padding = suite.paddingLength(forPayloadLength: length)
                    #expect(range.lowerBound == slack)
                    #expect(range.count == suite.headroom + length + padding + 2 + suite.icvLength)
                    #expect(buffer[..<range.lowerBound].allSatisfy { $0 == canary })
                    #expect(buffer[range.upperBound...].allSatisfy { $0 == canary })
                    if suite.encryption != .null && length >= 16 {
                        #expect(Array(buffer[payloadStart..<(payloadStart + 16)]) != Array(payload.prefix(16)))
                    }
                    let (opened, plaintext) = try opened(inbound, Array(buffer[range]))
                    #expect(plaintext == payload, "\(suite.name) \(packetType) length \(length)")
                    #expect(opened.kind == kind)
                    #expect(opened.packetType == packetType)
                    #expect(opened.isNewest)
                }
                expectedSequence += 1
                #expect(pair.mobileNodeOut.sequenceNumber.lastSent == expectedSequence)
            }
        }
    }

    @Test("keepalive: PType 1, Next Header 59, empty; authenticated and replay-checked", arguments: Ciphersuite.allCases)
    func keepalive(suite: Ciphersuite) throws {
        let pair = try makePair(suite)
        var buffer = [UInt8](repeating: 0, count: suite.headroom + suite.tailroom)
        let range = try buffer.withUnsafeMutableBytes { try pair.mobileNodeOut.sealKeepalive(in: $0).range }
        let datagram = Array(buffer[range])
        #expect(datagram[0] >> 4 == 1)
        let (opened, payload) = try opened(pair.homeAgentIn, datagram)
        #expect(opened.kind == .keepalive && payload.isEmpty && opened.isNewest)
        #expect(dropReason(pair.homeAgentIn, datagram) == .replayed)
    }

    @Test("scope 0: user data as PType 0 in the clear; PType 1 is still accepted")
    func scopeZero() throws {
        let pair = try makePair(.aes128GCMSHA256, scope: .signalingOnly)
        for (nextHeader, kind) in [(NextHeader.ipv4, OpenedDatagram.Kind.ipv4), (NextHeader.ipv6, .ipv6)] {
            let inner = innerPacket(nextHeader, length: 60)
            var buffer = [UInt8](repeating: 0, count: 8) + inner
            let range = try buffer.withUnsafeMutableBytes {
                try DataChannel.encapsulatePlaintext(in: $0, payload: 8..<$0.count)
            }
            #expect(range == 0..<buffer.count)
            #expect(buffer[0..<8].allSatisfy { $0 == 0 })
            let (opened, payload) = try opened(pair.homeAgentIn, buffer)
            #expect(opened.packetType == .plaintext && opened.kind == kind && payload == inner)
            #expect(!opened.isNewest, "PType 0 never moves a binding")
            // Plaintext has no sequence number: the same datagram again is not a replay.
            #expect(try TernDataChannelTests.opened(pair.homeAgentIn, buffer).1 == inner)
        }
        let protected = try sealed(pair.mobileNodeOut, .userData, nextHeader: NextHeader.ipv4, innerPacket(4, length: 100))
        #expect(try opened(pair.homeAgentIn, protected).0.packetType == .userData)
    }

    @Test("a restored SA resumes past its reservation; the receiver sees only newer numbers")
    func resumedSequence() throws {
        let pair = try makePair(.chacha20Poly1305SHA256, lastSent: 5 << 20)
        let datagram = try sealed(pair.mobileNodeOut, .userData, nextHeader: NextHeader.ipv6, innerPacket(41, length: 64))
        #expect(try opened(pair.homeAgentIn, datagram).0.sequenceNumber == (5 << 20) + 1)
    }
}

@Suite("Sealing limits")
struct SealLimitTests {
    @Test("the soft limit is signalled; after 2^32 − 1 the SA refuses to seal", arguments: Ciphersuite.allCases)
    func exhaustion(suite: Ciphersuite) throws {
        let pair = try makePair(suite, lastSent: UInt32.max - 1)
        let payload = innerPacket(NextHeader.ipv4, length: 40)
        let last = try sealed(pair.mobileNodeOut, .userData, nextHeader: NextHeader.ipv4, payload)
        #expect(pair.mobileNodeOut.sequenceNumber.isPastSoftLimit)
        let (opened, _) = try opened(pair.homeAgentIn, last)
        #expect(opened.sequenceNumber == UInt32.max)
        #expect(throws: DataChannelSealError.sequenceNumberExhausted) {
            _ = try sealed(pair.mobileNodeOut, .userData, nextHeader: NextHeader.ipv4, payload)
        }
        #expect(throws: DataChannelSealError.sequenceNumberExhausted) {
            _ = try sealed(pair.mobileNodeOut, .userData, nextHeader: NextHeader.ipv4, payload)
        }
    }

    @Test("soft limit: the flag turns on exactly at 2^31")
    func softLimit() throws {
        let pair = try makePair(.aes128GCMSHA256, lastSent: OutboundSequenceNumber.softLimit - 2)
        var buffer = [UInt8](repeating: 0x45, count: 200)
        let first = try buffer.withUnsafeMutableBytes {
            try pair.mobileNodeOut.seal(.userData, nextHeader: 4, in: $0, payload: 50..<100)
        }
        let second = try buffer.withUnsafeMutableBytes {
            try pair.mobileNodeOut.seal(.userData, nextHeader: 4, in: $0, payload: 50..<100)
        }
        #expect(!first.isPastSoftLimit && second.isPastSoftLimit)
        #expect(second.sequenceNumber == OutboundSequenceNumber.softLimit)
    }

    @Test("too little headroom or tailroom, PType 0 and oversized payloads are refused, nothing written",
          arguments: Ciphersuite.allCases)
    func room(suite: Ciphersuite) throws {
        let pair = try makePair(suite)
        let length = 100
        var buffer = [UInt8](repeating: 0x45, count: suite.headroom + length + suite.tailroom)
        let before = buffer
        buffer.withUnsafeMutableBytes { raw in
            let out = pair.mobileNodeOut
            #expect(throws: DataChannelSealError.insufficientHeadroom(needed: suite.headroom)) {
                try out.seal(.userData, nextHeader: 4, in: raw, payload: (suite.headroom - 1)..<(suite.headroom - 1 + length))
            }
            // One octet short of the datagram's end.
            let end = suite.headroom + length + suite.paddingLength(forPayloadLength: length) + 2 + suite.icvLength
            let tight = UnsafeMutableRawBufferPointer(rebasing: raw[0..<(end - 1)])
            #expect(throws: DataChannelSealError.insufficientTailroom(needed: end - suite.headroom - length)) {
                try out.seal(.userData, nextHeader: 4, in: tight, payload: suite.headroom..<(suite.headroom + length))
            }
            #expect(throws: DataChannelSealError.plaintextIsNotSealed) {
                try out.seal(.plaintext, nextHeader: 4, in: raw, payload: suite.headroom..<(suite.headroom + length))
            }
            #expect(throws: DataChannelSealError.payloadTooLarge(DataChannel.maximumPayloadLength + 1)) {
                try out.seal(.userData, nextHeader: 4, in: raw, payload: 0..<(DataChannel.maximumPayloadLength + 1))
            }
        }
        #expect(buffer == before)
        #expect(pair.mobileNodeOut.sequenceNumber.lastSent == 0, "a refused packet uses no sequence number")
    }

    @Test("buffers sized by maximumHeadroom/maximumTailroom fit every suite")
    func maxima() {
        for suite in Ciphersuite.allCases {
            #expect(suite.headroom <= DataChannel.maximumHeadroom)
            #expect(suite.tailroom <= DataChannel.maximumTailroom)
            #expect(suite.headroom + suite.tailroom <= DataChannel.maximumOverhead)
        }
    }
}

@Suite("Keys are checked when an SA is built (DESIGN.md, AEAD keys)")
struct KeyTests {
    @Test("wrong lengths are refused, naming the suite and the key", arguments: Ciphersuite.allCases)
    func lengths(suite: Ciphersuite) {
        if suite.encryptionKeyLength > 0 {
            for length in [0, suite.encryptionKeyLength - 1, suite.encryptionKeyLength + 1] {
                #expect(throws: SecurityAssociationError.keyLength(
                    suite: suite, key: "ekey", expected: suite.encryptionKeyLength, actual: length)) {
                    try DirectionalKeys(
                        suite: suite, encryptionKey: Array(repeating: 1, count: length),
                        integrityKey: Array(repeating: 2, count: suite.integrityKeyLength))
                }
            }
        }
        if suite.integrityKeyLength > 0 {
            for length in [0, suite.integrityKeyLength - 1, suite.integrityKeyLength + 1] {
                #expect(throws: SecurityAssociationError.keyLength(
                    suite: suite, key: "ikey", expected: suite.integrityKeyLength, actual: length)) {
                    try DirectionalKeys(
                        suite: suite, encryptionKey: Array(repeating: 1, count: suite.encryptionKeyLength),
                        integrityKey: Array(repeating: 2, count: length))
                }
            }
        }
    }

    @Test("an ikey given to an AEAD suite and an ekey given to a NULL suite are ignored")
    func ignored() throws {
        let aead = try DirectionalKeys(
            suite: .aes128GCMSHA256, encryptionKey: Array(repeating: 1, count: 20), integrityKey: [9, 9, 9])
        #expect(aead.integrityKey.isEmpty)
        let null = try DirectionalKeys(
            suite: .nullSHA, encryptionKey: [7, 7], integrityKey: Array(repeating: 2, count: 20))
        #expect(null.encryptionKey.isEmpty)
        #expect(
            SecurityAssociationError.keyLength(suite: .aes128CBCSHA, key: "ekey", expected: 16, actual: 3).description
                == "suite {00,2F} (AES_128_CBC_SHA) needs a 16-octet ekey, got 3 octets")
    }
}
