import Testing
@testable import TernDataChannel
import TernProtocol
import TernTestSupport

@Suite("Hostile and broken datagrams are dropped with a distinct reason, never trapping")
struct RejectionTests {
    /// The reasons a single flipped bit at `bitIndex` of a sealed PType 1 datagram may produce.
    private func allowedReasons(
        bitIndex: Int, sequenceNumber: UInt32, window: ReplayWindow
    ) -> Set<DataChannelDropReason> {
        let octet = bitIndex / 8
        switch octet {
        case 0 where bitIndex % 8 < 4:
            // The PType nibble: 1 → 0 is plaintext with a non-zero SPI; 1 → 3, 5, 9 are unknown.
            return [.malformedPlaintext, .unknownPacketType]
        case 0..<4:
            return [.unknownSecurityParameterIndex, .zeroSecurityParameterIndex]
        case 4..<8:
            // The replay pre-check runs before the ICV: a flip onto a number already seen is a replay.
            let flipped = sequenceNumber ^ (1 << UInt32(31 - (bitIndex - 32)))
            switch window.check(flipped) {
            case .zero: return [.zeroSequenceNumber]
            case .duplicate: return [.replayed]
            case .tooOld: return [.tooOld]
            case .newest, .reordered: return [.authenticationFailed]
            }
        default:
            return [.authenticationFailed]
        }
    }

    @Test("every single-bit flip anywhere in a sealed datagram is rejected", arguments: Ciphersuite.allCases)
    func bitFlips(suite: Ciphersuite) throws {
        let pair = try makePair(suite)
        var counters = DataChannelDropCounters()
        for (packetType, nextHeader, length) in [
            (PacketType.userData, NextHeader.noNextHeader, 0), (.userData, NextHeader.ipv4, 41),
            (.mobilityHeader, NextHeader.mobility, 24), (.userData, NextHeader.ipv6, 1420),
        ] {
            let datagram = try sealed(
                pair.mobileNodeOut, packetType, nextHeader: nextHeader, innerPacket(nextHeader, length: length))
            let sequence = pair.mobileNodeOut.sequenceNumber.lastSent
            var flipped = datagram
            for bitIndex in 0..<(datagram.count * 8) {
                flipped[bitIndex / 8] ^= 1 << UInt8(7 - bitIndex % 8)
                let reason = dropReason(pair.homeAgentIn, flipped)
                flipped[bitIndex / 8] ^= 1 << UInt8(7 - bitIndex % 8)
                guard let reason else {
                    Issue.record("\(suite.name): flip of bit \(bitIndex) of \(datagram.count) octets was accepted")
                    continue
                }
                #expect(
                    allowedReasons(bitIndex: bitIndex, sequenceNumber: sequence, window: pair.homeAgentIn.replayWindow)
                        .contains(reason),
                    "\(suite.name) bit \(bitIndex): \(reason)")
                counters.record(reason)
            }
            // Forgeries moved nothing: the genuine datagram still opens, and is the newest.
            let (opened, _) = try opened(pair.homeAgentIn, datagram)
            #expect(opened.isNewest && opened.sequenceNumber == sequence)
        }
        #expect(counters[.authenticationFailed] > 0 && counters[.unknownSecurityParameterIndex] > 0)
    }

    @Test("every truncation of a sealed datagram is rejected", arguments: Ciphersuite.allCases)
    func truncations(suite: Ciphersuite) throws {
        let pair = try makePair(suite)
        let datagram = try sealed(pair.mobileNodeOut, .userData, nextHeader: 4, innerPacket(4, length: 300))
        for length in 0..<datagram.count {
            let reason = dropReason(pair.homeAgentIn, Array(datagram.prefix(length)))
            let allowed: Set<DataChannelDropReason> =
                length < 8 ? [.truncatedHeader] : [.truncated, .misaligned, .authenticationFailed]
            #expect(reason.map(allowed.contains) == true, "\(suite.name) length \(length): \(String(describing: reason))")
        }
        #expect(try opened(pair.homeAgentIn, datagram).1 == innerPacket(4, length: 300))
    }

    @Test("a datagram under another SPI, or under the right SPI with another key, is refused",
          arguments: Ciphersuite.allCases)
    func wrongSPIOrKey(suite: Ciphersuite) throws {
        let pair = try makePair(suite)
        let other = try makePair(suite, seed: 99, spi: SecurityParameterIndex(rawValue: 0x0765_4321)!)
        let sameSPIOtherKeys = try makePair(suite, seed: 77)
        let payload = innerPacket(4, length: 200)
        let foreign = try sealed(other.mobileNodeOut, .userData, nextHeader: 4, payload)
        #expect(dropReason(pair.homeAgentIn, foreign) == .unknownSecurityParameterIndex)
        let forged = try sealed(sameSPIOtherKeys.mobileNodeOut, .userData, nextHeader: 4, payload)
        #expect(dropReason(pair.homeAgentIn, forged) == .authenticationFailed)
        // Reflection: the HA's own outbound packet is not accepted as coming from the MN.
        let reflected = try sealed(pair.homeAgentOut, .userData, nextHeader: 4, payload)
        #expect(dropReason(pair.homeAgentIn, reflected) == .authenticationFailed)
    }

    @Test("authentic datagrams with bad padding, Pad Length, Next Header or inner packet", arguments: Ciphersuite.allCases)
    func badTrailers(suite: Ciphersuite) throws {
        let pair = try makePair(suite)
        let out = pair.mobileNodeOut
        let align = suite.alignment
        /// payload + `padding` + Pad Length + Next Header, padded to alignment with extra 1,2,3 if needed.
        func plaintext(_ payload: [UInt8], padding: [UInt8], padLength: UInt8, nextHeader: UInt8) -> [UInt8] {
            let body = payload + padding + [padLength, nextHeader]
            precondition(body.count % align == 0, "test plaintext not aligned")
            return body
        }
        func payloadFor(paddingCount: Int, first: UInt8 = 0x45) -> [UInt8] {
            // Choose a payload length so that payload + padding + 2 is aligned.
            var length = 20
            while (length + paddingCount + 2) % align != 0 { length += 1 }
            return [first] + [UInt8](repeating: 0x11, count: length - 1)
        }
        var sequence: UInt32 = 0
        func check(_ body: [UInt8], packetType: UInt8 = 1, _ expected: DataChannelDropReason) throws {
            sequence += 1
            let datagram = try crafted(out, packetType: packetType, sequenceNumber: sequence, plaintext: body)
            #expect(dropReason(pair.homeAgentIn, datagram) == expected, "\(suite.name) \(expected)")
        }
        let three: [UInt8] = [1, 2, 3]
        // Padding octets that are not 1, 2, 3.
        try check(plaintext(payloadFor(paddingCount: 3), padding: [1, 2, 4], padLength: 3, nextHeader: 4), .badPadding)
        try check(plaintext(payloadFor(paddingCount: 3), padding: [0, 0, 0], padLength: 3, nextHeader: 4), .badPadding)
        // Pad Length larger than everything before it.
        let short = [UInt8](repeating: 0x45, count: align - 2)
        try check(plaintext(short, padding: [], padLength: UInt8(align - 1), nextHeader: 4), .badPadLength)
        try check(plaintext(short, padding: [], padLength: 255, nextHeader: 4), .badPadLength)
        // Next Header not allowed for the Packet Type.
        try check(plaintext(payloadFor(paddingCount: 3), padding: three, padLength: 3, nextHeader: 17), .badNextHeader)
        try check(plaintext(payloadFor(paddingCount: 3), padding: three, padLength: 3, nextHeader: 135), .badNextHeader)
        try check(
            plaintext(payloadFor(paddingCount: 3), padding: three, padLength: 3, nextHeader: 4), packetType: 8,
            .badNextHeader)
        // A keepalive that carries data.
        try check(plaintext(payloadFor(paddingCount: 3), padding: three, padLength: 3, nextHeader: 59), .badNextHeader)
        // The inner packet disagrees with Next Header, or is empty.
        try check(plaintext(payloadFor(paddingCount: 3, first: 0x60), padding: three, padLength: 3, nextHeader: 4), .badInnerPacket)
        try check(plaintext(payloadFor(paddingCount: 3, first: 0x45), padding: three, padLength: 3, nextHeader: 41), .badInnerPacket)
        let emptyPadding = [UInt8](1...UInt8(align - 2))
        try check(plaintext([], padding: emptyPadding, padLength: UInt8(align - 2), nextHeader: 4), .badInnerPacket)
        // Extra padding beyond the minimum is legal (RFC 4303 §2.4: hides the length) and opens.
        sequence += 1
        let longPad = [UInt8](1...UInt8(align * 4 + 1))
        let body = plaintext(payloadFor(paddingCount: longPad.count), padding: longPad, padLength: UInt8(longPad.count), nextHeader: 4)
        let datagram = try crafted(out, packetType: 1, sequenceNumber: sequence, plaintext: body)
        #expect(try opened(pair.homeAgentIn, datagram).1 == payloadFor(paddingCount: longPad.count))
    }

    @Test("Packet Types other than 0, 1, 8 are unknown", arguments: [2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15] as [UInt8])
    func unknownPacketType(value: UInt8) throws {
        let pair = try makePair(.aes128GCMSHA256)
        let body: [UInt8] = [0x45, 1, 2, 4]
        let datagram = try crafted(pair.mobileNodeOut, packetType: value, sequenceNumber: 1, plaintext: body)
        #expect(dropReason(pair.homeAgentIn, datagram) == .unknownPacketType)
    }

    @Test("PType 0: refused under scope 1; zeros required; inner packet must be IP")
    func plaintextRules() throws {
        let scopeOne = try makePair(.aes128GCMSHA256, scope: .allTraffic)
        let scopeZero = try makePair(.aes128GCMSHA256, scope: .signalingOnly)
        let valid: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0] + innerPacket(4, length: 28)
        #expect(dropReason(scopeOne.homeAgentIn, valid) == .plaintextNotPermitted)
        #expect(dropReason(scopeZero.homeAgentIn, valid) == nil)
        var withSPI = valid
        withSPI[3] = 1
        #expect(dropReason(scopeZero.homeAgentIn, withSPI) == .malformedPlaintext)
        var withSequence = valid
        withSequence[7] = 1
        #expect(dropReason(scopeZero.homeAgentIn, withSequence) == .malformedPlaintext)
        #expect(dropReason(scopeZero.homeAgentIn, Array(valid.prefix(8))) == .badInnerPacket)
        var notIP = valid
        notIP[8] = 0x55
        #expect(dropReason(scopeZero.homeAgentIn, notIP) == .badInnerPacket)
    }

    @Test("protected packets with SPI 0 or Sequence Number 0 are refused before any crypto")
    func zeros() throws {
        let pair = try makePair(.aes128CBCSHA256)
        let body = [UInt8](repeating: 0x45, count: 13) + [1, 1, 4]
        var zeroSPI = try crafted(pair.mobileNodeOut, packetType: 1, sequenceNumber: 3, plaintext: body)
        zeroSPI.replaceSubrange(0..<4, with: [0x10, 0, 0, 0])
        #expect(dropReason(pair.homeAgentIn, zeroSPI) == .zeroSecurityParameterIndex)
        // An authentic packet that carries Sequence Number 0: a correct sender never makes one.
        let zeroSequence = try crafted(pair.mobileNodeOut, packetType: 1, sequenceNumber: 0, plaintext: body)
        #expect(dropReason(pair.homeAgentIn, zeroSequence) == .zeroSequenceNumber)
    }

    @Test("replays, reordering and the window's edge on the wire", arguments: Ciphersuite.allCases)
    func replays(suite: Ciphersuite) throws {
        let pair = try makePair(suite)
        let payload = innerPacket(41, length: 64)
        var datagrams: [[UInt8]] = []
        for _ in 0..<(ReplayWindow.size + 10) {
            datagrams.append(try sealed(pair.mobileNodeOut, .userData, nextHeader: 41, payload))
        }
        // 2 arrives before 1: 2 is the newest, 1 is authentic but not newest; both again are replays.
        #expect(try opened(pair.homeAgentIn, datagrams[1]).0.isNewest)
        #expect(try opened(pair.homeAgentIn, datagrams[0]).0.isNewest == false)
        #expect(dropReason(pair.homeAgentIn, datagrams[0]) == .replayed)
        #expect(dropReason(pair.homeAgentIn, datagrams[1]) == .replayed)
        // Jump to the last one: the early ones fall out of the window.
        #expect(try opened(pair.homeAgentIn, datagrams[datagrams.count - 1]).0.isNewest)
        #expect(dropReason(pair.homeAgentIn, datagrams[2]) == .tooOld)
        let lowest = datagrams.count - ReplayWindow.size  // index of the lowest number still in the window
        #expect(dropReason(pair.homeAgentIn, datagrams[lowest - 1]) == .tooOld)
        #expect(try opened(pair.homeAgentIn, datagrams[lowest]).0.isNewest == false)
    }

    @Test("random garbage and mutated datagrams never trap and never open", arguments: Ciphersuite.allCases)
    func fuzz(suite: Ciphersuite) throws {
        let pair = try makePair(suite)
        var random = SeededRandom(seed: 0xF022 &+ UInt64(suite.rawValue))
        let spiWord = (UInt32(1) << 28 | testSPI.rawValue).bigEndian
        let spiBytes = withUnsafeBytes(of: spiWord) { Array($0) }
        var counters = DataChannelDropCounters()
        let genuine = try sealed(pair.mobileNodeOut, .userData, nextHeader: 4, innerPacket(4, length: 500))
        for round in 0..<4000 {
            var datagram: [UInt8]
            switch round % 3 {
            case 0:  // noise, sometimes with the right SPI so that it reaches the crypto
                datagram = random.bytes(Int.random(in: 0...300, using: &random))
                if datagram.count >= 8 && Bool.random(using: &random) {
                    datagram.replaceSubrange(0..<4, with: spiBytes)
                }
            case 1:  // a genuine datagram with a few random octets changed
                datagram = genuine
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    datagram[Int.random(in: 0..<datagram.count, using: &random)] ^= UInt8.random(in: 1...255, using: &random)
                }
            default:  // a genuine datagram cut or extended
                datagram = Array(genuine.prefix(Int.random(in: 0...genuine.count, using: &random)))
                datagram += random.bytes(Int.random(in: 0...40, using: &random))
                if datagram == genuine { datagram[datagram.count - 1] ^= 1 }
            }
            guard let reason = dropReason(pair.homeAgentIn, datagram) else {
                Issue.record("\(suite.name) round \(round): garbage opened")
                continue
            }
            counters.record(reason)
        }
        #expect(counters.total == 4000)
        #expect(counters[.cryptoFailure] == 0)
        #expect(try opened(pair.homeAgentIn, genuine).0.isNewest)
    }
}
