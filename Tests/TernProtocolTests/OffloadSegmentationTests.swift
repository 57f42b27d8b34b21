import Testing
import TernProtocol
import TernTestSupport

@Suite("virtio_net_hdr")
struct VirtioNetHeaderTests {
    @Test("little-endian fields in the order of linux/virtio_net.h; write then parse round-trips")
    func layout() throws {
        let header = VirtioNetHeader(
            flags: VirtioNetHeader.needsChecksumFlag, gsoType: .tcpv6, ecn: true, headerLength: 0x0102,
            gsoSize: 0x0304, checksumStart: 0x0506, checksumOffset: 0x0708)
        var bytes = [UInt8](repeating: 0xEE, count: 12)
        let written = bytes.withUnsafeMutableBytes { header.write(to: $0) }
        #expect(written)
        #expect(bytes == [0x01, 0x84, 0x02, 0x01, 0x04, 0x03, 0x06, 0x05, 0x08, 0x07, 0xEE, 0xEE])
        let parsed = try bytes.withUnsafeBytes { try VirtioNetHeader(parsing: $0) }
        #expect(parsed == header)
        #expect(parsed.needsChecksum)
    }

    @Test("short input, UFO, unknown GSO types and ECN without GSO are refused; a short write writes nothing")
    func refusals() {
        for count in 0..<VirtioNetHeader.length {
            let bytes = [UInt8](repeating: 0, count: count)
            #expect(throws: OffloadError.truncatedVirtioHeader(length: count)) {
                try bytes.withUnsafeBytes { try VirtioNetHeader(parsing: $0) }
            }
        }
        for type: UInt8 in [2, 3, 6, 0x7F, 0x80, 0x83, 0xFF] {
            let bytes: [UInt8] = [0, type, 0, 0, 0, 0, 0, 0, 0, 0]
            #expect(throws: OffloadError.unsupportedGSOType(type)) {
                try bytes.withUnsafeBytes { try VirtioNetHeader(parsing: $0) }
            }
        }
        for type: UInt8 in [0, 1, 4, 5, 0x81, 0x84, 0x85] {
            let bytes: [UInt8] = [0, type, 0, 0, 0, 0, 0, 0, 0, 0]
            #expect((try? bytes.withUnsafeBytes { try VirtioNetHeader(parsing: $0) }) != nil, "type \(type)")
        }
        var short = [UInt8](repeating: 0xEE, count: 9)
        let written = short.withUnsafeMutableBytes { VirtioNetHeader(gsoType: .tcpv4).write(to: $0) }
        #expect(!written)
        #expect(short == [UInt8](repeating: 0xEE, count: 9))
    }
}

/// A kernel-style TSO/USO read: the super-packet with its virtio header.
struct SuperPacket {
    var spec: PacketSpec
    var gsoSize: Int

    var header: VirtioNetHeader {
        let ip = spec.isIPv6 ? 40 : 20
        let gsoType: VirtioNetHeader.GSOType = spec.isTCP ? (spec.isIPv6 ? .tcpv6 : .tcpv4) : .udpL4
        return VirtioNetHeader(
            flags: VirtioNetHeader.needsChecksumFlag, gsoType: gsoType,
            headerLength: UInt16(ip + (spec.isTCP ? 20 + spec.options.count : 8)), gsoSize: UInt16(gsoSize),
            checksumStart: UInt16(ip), checksumOffset: spec.isTCP ? 16 : 6)
    }

    /// As the kernel hands it over: the transport checksum field holds the pseudo-header seed.
    var packet: [UInt8] {
        var spec = self.spec
        spec.checksums = false
        var packet = spec.build()
        let ip = spec.isIPv6 ? 40 : 20
        put16(&packet, ip + (spec.isTCP ? 16 : 6), Int(naiveSum(pseudoHeaderBytes(packet))))
        return packet
    }
}

@Suite("PacketSegmenter: TSO/USO super-packets into MTU-sized packets")
struct OffloadSegmentationTests {
    /// (gsoSize, payload length): 1 octet, gsoSize − 1, exact multiples, segments of 1–3 octets, 44 segments,
    /// an odd segment size, an empty payload, and the largest payload an IPv4 packet can carry.
    static let shapes: [(Int, Int)] = [
        (1_400, 1), (1_400, 1_399), (1_400, 1_400), (1_400, 2_800), (1_400, 4_199), (100, 4_400), (1, 1),
        (1, 2), (1, 3), (2, 3), (7, 300), (1_400, 0), (1_448, 65_535 - 20 - 32),
    ]

    @Test("TCP over IPv4 and IPv6, with and without timestamps: every segment checked on its own", arguments: [
        (false, false), (false, true), (true, false), (true, true),
    ])
    func tcp(isIPv6: Bool, withTimestamps: Bool) throws {
        for (gsoSize, length) in Self.shapes {
            var spec = PacketSpec(isIPv6: isIPv6, payload: payloadBytes(length, seed: UInt8(gsoSize & 0xFF)))
            spec.options = withTimestamps ? timestampOption(value: 77) : []
            if isIPv6 && length > 65_535 - 32 - 40 { continue }
            try check(SuperPacket(spec: spec, gsoSize: gsoSize))
        }
    }

    @Test("UDP (USO) over IPv4 and IPv6", arguments: [false, true])
    func udp(isIPv6: Bool) throws {
        for (gsoSize, length) in Self.shapes where length <= 65_535 - 48 {
            try check(SuperPacket(spec: PacketSpec(isIPv6: isIPv6, isTCP: false, payload: payloadBytes(length)), gsoSize: gsoSize))
        }
    }

    @Test("FIN and PSH only on the last segment, CWR only on the first, other bits everywhere")
    func flags() throws {
        for flags: UInt8 in [0x10 | 0x08 | 0x01, 0x10 | 0x80, 0x10 | 0x80 | 0x40 | 0x08 | 0x01, 0x18] {
            for count in [1, 2, 5] {
                let spec = PacketSpec(payload: payloadBytes(count * 500 - 3), flags: flags)
                try check(SuperPacket(spec: spec, gsoSize: 500))
            }
        }
    }

    @Test("IPv4 Identification and TCP Sequence Number wrap around")
    func wrapping() throws {
        var spec = PacketSpec(payload: payloadBytes(5_000))
        spec.identification = 0xFFFE
        spec.sequenceNumber = 0xFFFF_F000
        let segments = try check(SuperPacket(spec: spec, gsoSize: 1_000))
        #expect(segments.map { be16($0, 4) } == [0xFFFE, 0xFFFF, 0, 1, 2])
        #expect(segments.map { be32($0, 24) } == [0xFFFF_F000, 0xFFFF_F3E8, 0xFFFF_F7D0, 0xFFFF_FBB8, 0xFFFF_FFA0])
    }

    @Test("the virtio header's hdr_len is not trusted: 0 or the whole packet give the same segments")
    func headerLengthIgnored() throws {
        let superPacket = SuperPacket(spec: PacketSpec(payload: payloadBytes(3_000), options: timestampOption(value: 5)), gsoSize: 1_000)
        let expected = try segment(superPacket.header, superPacket.packet)
        for headerLength in [0, 20, superPacket.packet.count, 0xFFFF] {
            var header = superPacket.header
            header.headerLength = UInt16(headerLength)
            #expect(try segment(header, superPacket.packet) == expected)
        }
    }

    @Test("a checksum that came out 0 over UDP is sent as FFFF (RFC 768)")
    func udpZeroChecksum() throws {
        // Choose the last two payload octets so that the datagram's checksum is exactly 0.
        var spec = PacketSpec(isTCP: false, payload: payloadBytes(100) + [0, 0])
        var packet = spec.build()
        let checksum = be16(packet, 26)
        spec.payload[100] = UInt8(checksum >> 8)
        spec.payload[101] = UInt8(checksum & 0xFF)
        packet = spec.build()
        #expect(be16(packet, 26) == 0xFFFF, "the builder maps 0 as well")
        let segments = try segment(SuperPacket(spec: spec, gsoSize: 2_000).header, SuperPacket(spec: spec, gsoSize: 2_000).packet)
        #expect(segments == [packet])
    }

    /// Splits `superPacket` and checks each segment independently; returns the segments.
    @discardableResult
    func check(_ superPacket: SuperPacket) throws -> [[UInt8]] {
        let spec = superPacket.spec
        let input = superPacket.packet
        let segments = try segment(superPacket.header, input)
        let gsoSize = superPacket.gsoSize
        let ip = spec.isIPv6 ? 40 : 20
        let headers = ip + (spec.isTCP ? 20 + spec.options.count : 8)
        let expectedCount = spec.payload.count <= gsoSize ? 1 : (spec.payload.count + gsoSize - 1) / gsoSize
        #expect(segments.count == expectedCount, "gso \(gsoSize) payload \(spec.payload.count)")
        var payload: [UInt8] = []
        for (index, segment) in segments.enumerated() {
            let isLast = index == segments.count - 1
            let payloadLength = isLast ? spec.payload.count - index * gsoSize : gsoSize
            let context = "segment \(index) of \(segments.count), gso \(gsoSize), IPv\(spec.isIPv6 ? 6 : 4)"
            #expect(segment.count == headers + payloadLength, "\(context)")
            #expect(naiveChecksumsVerify(segment), "\(context)")
            if spec.isIPv6 {
                #expect(be16(segment, 4) == segment.count - 40, "\(context)")
                #expect(Array(segment[0..<4]) == Array(input[0..<4]) && Array(segment[6..<40]) == Array(input[6..<40]))
            } else {
                #expect(be16(segment, 2) == segment.count, "\(context)")
                #expect(be16(segment, 4) == (Int(spec.identification) + index) & 0xFFFF, "\(context)")
                #expect(Array(segment[6..<10]) == Array(input[6..<10]) && Array(segment[12..<20]) == Array(input[12..<20]))
            }
            #expect(Array(segment[ip..<(ip + 4)]) == Array(input[ip..<(ip + 4)]), "ports")
            if spec.isTCP {
                #expect(be32(segment, ip + 4) == spec.sequenceNumber &+ UInt32(index * gsoSize), "\(context)")
                #expect(Array(segment[(ip + 8)..<(ip + 13)]) == Array(input[(ip + 8)..<(ip + 13)]))
                #expect(Array(segment[(ip + 14)..<(ip + 16)]) == Array(input[(ip + 14)..<(ip + 16)]))
                #expect(Array(segment[(ip + 18)..<headers]) == Array(input[(ip + 18)..<headers]), "urgent, options")
                var flags = spec.flags
                if !isLast { flags &= ~0x09 }
                if index > 0 { flags &= ~0x80 }
                #expect(segment[ip + 13] == flags, "\(context)")
            } else {
                #expect(be16(segment, ip + 4) == segment.count - ip, "\(context)")
            }
            payload += segment[headers...]
        }
        #expect(payload == spec.payload)
        return segments
    }
}

@Suite("PacketSegmenter: single packets and refusals")
struct OffloadSegmenterEdgeTests {
    @Test("NEEDS_CSUM without GSO: the seeded pseudo-header sum is completed, TCP and UDP, IPv4 and IPv6")
    func completeChecksum() throws {
        for (isIPv6, isTCP) in [(false, true), (true, true), (false, false), (true, false)] {
            let spec = PacketSpec(isIPv6: isIPv6, isTCP: isTCP, payload: payloadBytes(777), options: isTCP ? timestampOption(value: 1) : [])
            let correct = spec.build()
            let superPacket = SuperPacket(spec: spec, gsoSize: 0)
            var header = superPacket.header
            header.gsoType = .none
            let segments = try segment(header, superPacket.packet)
            #expect(segments == [correct])
            // In place, as the data plane does for a packet it read straight into its slot.
            var packet = superPacket.packet
            try packet.withUnsafeMutableBytes { try header.completeChecksum(in: $0) }
            #expect(packet == correct)
        }
    }

    @Test("completing a checksum that comes out 0 stores FFFF, as skb_checksum_help does, for TCP and UDP")
    func completeZeroChecksum() throws {
        for isTCP in [true, false] {
            var spec = PacketSpec(isTCP: isTCP, payload: payloadBytes(100) + [0, 0])
            let ip = 20
            let field = ip + (isTCP ? 16 : 6)
            let checksum = be16(spec.build(), field)
            spec.payload[100] = UInt8(checksum >> 8)
            spec.payload[101] = UInt8(checksum & 0xFF)
            var expected = spec.build()
            put16(&expected, field, 0xFFFF)
            #expect(naiveChecksumsVerify(expected))
            var header = SuperPacket(spec: spec, gsoSize: 0).header
            header.gsoType = .none
            #expect(try segment(header, SuperPacket(spec: spec, gsoSize: 0).packet) == [expected], "TCP \(isTCP)")
        }
    }

    @Test("no GSO and no NEEDS_CSUM: the packet exactly as read, whatever it holds")
    func passThrough() throws {
        let bytes: [UInt8] = [0x99, 1, 2, 3, 4]
        #expect(try segment(VirtioNetHeader(flags: VirtioNetHeader.dataValidFlag), bytes) == [bytes])
        #expect(try segment(VirtioNetHeader(), []) == [[]])
    }

    @Test("a checksum location outside a single packet is refused, in the segmenter and in place")
    func checksumOutside() {
        let bytes = [UInt8](repeating: 0x45, count: 40)
        let header = VirtioNetHeader(flags: VirtioNetHeader.needsChecksumFlag, checksumStart: 30, checksumOffset: 9)
        #expect(throws: OffloadError.checksumOutsidePacket(start: 30, offset: 9, length: 40)) {
            try segment(header, bytes)
        }
        var copy = bytes
        #expect(throws: OffloadError.checksumOutsidePacket(start: 30, offset: 9, length: 40)) {
            try copy.withUnsafeMutableBytes { try header.completeChecksum(in: $0) }
        }
        let atStart = VirtioNetHeader(flags: VirtioNetHeader.needsChecksumFlag, checksumStart: 40, checksumOffset: 0)
        #expect(throws: OffloadError.checksumOutsidePacket(start: 40, offset: 0, length: 40)) { try segment(atStart, bytes) }
    }

    @Test("inconsistent super-packets are refused with the reason")
    func refusals() {
        let v4 = SuperPacket(spec: PacketSpec(payload: payloadBytes(3_000)), gsoSize: 1_000)
        let v6 = SuperPacket(spec: PacketSpec(isIPv6: true, payload: payloadBytes(3_000)), gsoSize: 1_000)
        var header = v4.header
        header.gsoType = .tcpv6
        #expect(throws: OffloadError.gsoTypeMismatch(gsoType: 4, ipVersion: 4, transportProtocol: 6)) { try segment(header, v4.packet) }
        header = v6.header
        header.gsoType = .tcpv4
        #expect(throws: OffloadError.gsoTypeMismatch(gsoType: 1, ipVersion: 6, transportProtocol: 6)) { try segment(header, v6.packet) }
        header = v4.header
        header.gsoType = .udpL4
        #expect(throws: OffloadError.gsoTypeMismatch(gsoType: 5, ipVersion: 4, transportProtocol: 6)) { try segment(header, v4.packet) }
        header = v4.header
        header.checksumStart = 24
        #expect(throws: OffloadError.checksumLocationMismatch(start: 24, offset: 16)) { try segment(header, v4.packet) }
        header = v4.header
        header.checksumOffset = 6
        #expect(throws: OffloadError.checksumLocationMismatch(start: 20, offset: 6)) { try segment(header, v4.packet) }
        header.flags = 0  // without NEEDS_CSUM the location is not used, so not checked
        #expect((try? segment(header, v4.packet))?.count == 3)
        header = v4.header
        header.gsoSize = 0
        #expect(throws: OffloadError.zeroSegmentSize) { try segment(header, v4.packet) }
        header.gsoSize = 2
        #expect(throws: OffloadError.tooManySegments(1_500)) { try segment(header, v4.packet) }
        header.gsoSize = UInt16(3_000 / PacketSegmenter.maximumSegmentCount + 1)
        #expect((try? segment(header, v4.packet)) != nil, "just under the limit")

        var packet = v4.packet
        packet[6] |= 0x20  // MF
        #expect(throws: OffloadError.fragment) { try segment(v4.header, packet) }
        packet = v4.packet
        put16(&packet, 2, packet.count - 1)
        #expect(throws: OffloadError.lengthMismatch(declared: packet.count - 1, actual: packet.count)) { try segment(v4.header, packet) }
        packet = v4.packet
        packet[0] = 0x44
        #expect(throws: OffloadError.badIPv4HeaderLength(16)) { try segment(v4.header, packet) }
        packet = v4.packet
        packet[32] = 0x40  // TCP Data Offset 4 words
        #expect(throws: OffloadError.badTCPDataOffset(16)) { try segment(v4.header, packet) }
        packet = v4.packet
        packet[0] = 0x55
        #expect(throws: OffloadError.unknownIPVersion(5)) { try segment(v4.header, packet) }
        #expect(throws: OffloadError.truncatedPacket(length: 30, needed: 40)) {
            var short = Array(v4.packet.prefix(30))
            put16(&short, 2, 30)
            _ = try segment(v4.header, short)
        }
        packet = v6.packet
        packet[6] = 0  // Hop-by-Hop Options before TCP
        #expect(throws: OffloadError.ipv6ExtensionHeaders(nextHeader: 0)) { try segment(v6.header, packet) }
        packet[6] = 58  // ICMPv6
        #expect(throws: OffloadError.unsupportedTransportProtocol(58)) { try segment(v6.header, packet) }
    }

    @Test("a destination too small throws and consumes nothing: the same segment comes with a larger one")
    func destinationTooSmall() throws {
        let superPacket = SuperPacket(spec: PacketSpec(payload: payloadBytes(2_500)), gsoSize: 1_000)
        let expected = try segment(superPacket.header, superPacket.packet)
        var small = [UInt8](repeating: 0, count: 1_039)
        var large = [UInt8](repeating: 0, count: 1_040)
        try superPacket.packet.withUnsafeBytes { input in
            var segmenter = try PacketSegmenter(header: superPacket.header, packet: input)
            #expect(segmenter.segmentCount == 3)
            #expect(throws: OffloadError.destinationTooSmall(needed: 1_040, available: 1_039)) {
                try small.withUnsafeMutableBytes { _ = try segmenter.next(into: $0) }
            }
            for index in 0..<3 {
                let length = try large.withUnsafeMutableBytes { try segmenter.next(into: $0) }
                #expect(length.map { Array(large[0..<$0]) } == expected[index])
            }
            #expect(try large.withUnsafeMutableBytes { try segmenter.next(into: $0) } == nil)
            #expect(try large.withUnsafeMutableBytes { try segmenter.next(into: $0) } == nil, "stays done")
        }
    }
}
