import Testing
import TernProtocol
import TernTestSupport

/// Checks one coalesced emission as the kernel would take it: the virtio header matches the flow, the
/// IP lengths and IPv4 header checksum are right, and completing the partial checksum gives a packet
/// whose checksum verifies. Returns the completed packet.
@discardableResult
func checkSuperPacket(
    _ emission: (header: VirtioNetHeader, packet: [UInt8]), gsoSize: Int, sourceLocation: SourceLocation = #_sourceLocation
) -> [UInt8] {
    let packet = emission.packet
    let isIPv6 = packet[0] >> 4 == 6
    let ip = isIPv6 ? 40 : 20
    let isTCP = (isIPv6 ? packet[6] : packet[9]) == 6
    let headers = ip + (isTCP ? Int(packet[ip + 12] >> 4) * 4 : 8)
    let expected = VirtioNetHeader(
        flags: VirtioNetHeader.needsChecksumFlag, gsoType: isTCP ? (isIPv6 ? .tcpv6 : .tcpv4) : .udpL4,
        headerLength: UInt16(headers), gsoSize: UInt16(gsoSize), checksumStart: UInt16(ip),
        checksumOffset: isTCP ? 16 : 6)
    #expect(emission.header == expected, sourceLocation: sourceLocation)
    if isIPv6 {
        #expect(be16(packet, 4) == packet.count - 40, sourceLocation: sourceLocation)
    } else {
        #expect(be16(packet, 2) == packet.count, sourceLocation: sourceLocation)
        #expect(naiveSum(Array(packet[0..<20])) == 0xFFFF, "IPv4 header checksum", sourceLocation: sourceLocation)
    }
    if !isTCP { #expect(be16(packet, ip + 4) == packet.count - ip, "UDP Length", sourceLocation: sourceLocation) }
    let field = ip + (isTCP ? 16 : 6)
    #expect(be16(packet, field) == Int(naiveSum(pseudoHeaderBytes(packet))), "seed: pseudo-header sum, not complemented",
        sourceLocation: sourceLocation)
    var completed = packet
    kernelCompleteChecksum(&completed, start: ip, offset: isTCP ? 16 : 6)
    #expect(naiveChecksumsVerify(completed), sourceLocation: sourceLocation)
    return completed
}

@Suite("ReceiveCoalescer: GRO before the TUN write")
struct OffloadCoalescingTests {
    @Test("segmenter → coalescer → segmenter: one super-packet, and it splits back into the same segments",
        arguments: [(false, true, false), (false, true, true), (true, true, true), (false, false, false), (true, false, false)])
    func roundTrip(isIPv6: Bool, isTCP: Bool, withTimestamps: Bool) throws {
        var spec = PacketSpec(isIPv6: isIPv6, isTCP: isTCP, payload: payloadBytes(44 * 1_300 + 77), flags: 0x18)
        spec.options = withTimestamps ? timestampOption(value: 99) : []
        let superPacket = SuperPacket(spec: spec, gsoSize: 1_300)
        let segments = try segment(superPacket.header, superPacket.packet)
        #expect(segments.count == 45)
        let log = coalesce(segments, coalescer: ReceiveCoalescer(coalesceUDP: true))
        #expect(log.emitted.count == 1)
        guard let emission = log.emitted.first else { return }
        checkSuperPacket(emission, gsoSize: 1_300)
        #expect(transportPayload(emission.packet) == spec.payload)
        if isTCP { #expect(emission.packet[(isIPv6 ? 40 : 20) + 13] == 0x18, "ACK of the first, PSH of the last") }
        let again = try segment(emission.header, emission.packet)
        #expect(again == segments)
    }

    @Test("UDP is merged only when asked: with coalesceUDP false every datagram goes at once, alone")
    func udpOff() throws {
        let spec = PacketSpec(isTCP: false, payload: payloadBytes(4 * 1_000))
        let segments = try segment(SuperPacket(spec: spec, gsoSize: 1_000).header, SuperPacket(spec: spec, gsoSize: 1_000).packet)
        let coalescer = ReceiveCoalescer(coalesceUDP: false)
        let log = coalesce(segments, coalescer: coalescer, flush: false)
        #expect(log.emitted.map(\.packet) == segments, "emitted during offer, in order, unchanged")
        #expect(log.emitted.allSatisfy { $0.header == VirtioNetHeader() })
        #expect(coalescer.heldFlowCount == 0)
    }

    @Test("two interleaved connections: two super-packets, each in its own order")
    func interleaved() throws {
        let a = PacketSpec(payload: payloadBytes(6 * 1_000, seed: 1), sourcePort: 1111)
        let b = PacketSpec(isIPv6: false, payload: payloadBytes(6 * 1_000, seed: 2), sourcePort: 2222)
        let segmentsA = try segment(SuperPacket(spec: a, gsoSize: 1_000).header, SuperPacket(spec: a, gsoSize: 1_000).packet)
        let segmentsB = try segment(SuperPacket(spec: b, gsoSize: 1_000).header, SuperPacket(spec: b, gsoSize: 1_000).packet)
        var mixed: [[UInt8]] = []
        for index in 0..<6 { mixed += [segmentsA[index], segmentsB[index]] }
        let log = coalesce(mixed, coalescer: ReceiveCoalescer(coalesceUDP: false))
        #expect(log.emitted.count == 2)
        #expect(log.emitted.map { transportPayload($0.packet) } == [a.payload, b.payload], "oldest flow first")
        for emission in log.emitted { checkSuperPacket(emission, gsoSize: 1_000) }
    }

    /// Six 1 000-octet segments of one connection, built one by one.
    func stream(_ count: Int = 6, size: Int = 1_000, change: (Int, inout PacketSpec) -> Void = { _, _ in }) -> [[UInt8]] {
        (0..<count).map { index in
            var spec = PacketSpec(payload: payloadBytes(size, seed: UInt8(index)), sequenceNumber: 1_000 + UInt32(index * size))
            spec.options = timestampOption(value: 500)
            change(index, &spec)
            return spec.build()
        }
    }

    @Test("a FIN segment flushes its flow and goes alone after it")
    func fin() {
        let packets = stream { index, spec in if index == 5 { spec.flags = 0x11 } }
        let log = coalesce(packets, coalescer: ReceiveCoalescer(coalesceUDP: false))
        #expect(log.emitted.count == 2)
        #expect(log.emitted.last?.packet == packets[5])
        #expect(log.emitted.last?.header == VirtioNetHeader())
        if let first = log.emitted.first {
            let completed = checkSuperPacket(first, gsoSize: 1_000)
            #expect(transportPayload(completed) == packets[0..<5].flatMap(transportPayload))
        }
    }

    @Test("PSH ends a flow: the next segment starts another one")
    func psh() {
        let packets = stream { index, spec in if index == 2 { spec.flags = 0x18 } }
        let log = coalesce(packets, coalescer: ReceiveCoalescer(coalesceUDP: false))
        #expect(log.emitted.count == 2)
        #expect(log.emitted.map { transportPayload($0.packet) }
            == [packets[0..<3].flatMap(transportPayload), packets[3..<6].flatMap(transportPayload)])
        #expect(log.emitted.first.map { $0.packet[33] } == 0x18)
        #expect(log.emitted.last.map { $0.packet[33] } == 0x10)
        // A PSH segment with no flow to end goes alone at once; what follows merges on its own.
        let first = stream { index, spec in if index == 0 { spec.flags = 0x18 } }
        let firstLog = coalesce(first, coalescer: ReceiveCoalescer(coalesceUDP: false), flush: false)
        #expect(firstLog.emitted.map(\.packet) == [first[0]], "emitted during offer, not held")
    }

    @Test("a sequence gap, other options, another ACK or window, another TTL: the flow is flushed first")
    func breaks() {
        let cases: [(String, (Int, inout PacketSpec) -> Void)] = [
            ("out of order", { index, spec in if index >= 3 { spec.sequenceNumber &+= 1 } }),
            ("new timestamp", { index, spec in if index >= 3 { spec.options = timestampOption(value: 501) } }),
            ("new ACK", { index, spec in if index >= 3 { spec.acknowledgmentNumber = 0x6000 } }),
            ("new window", { index, spec in if index >= 3 { spec.window = 1 } }),
            ("new TTL", { index, spec in if index >= 3 { spec.ttl = 63 } }),
            ("new TOS", { index, spec in if index >= 3 { spec.tos = 4 } }),
            ("DF cleared", { index, spec in if index >= 3 { spec.dontFragment = false } }),
        ]
        for (name, change) in cases {
            let packets = stream(change: change)
            let log = coalesce(packets, coalescer: ReceiveCoalescer(coalesceUDP: false))
            #expect(log.emitted.count == 2, "\(name)")
            #expect(log.emitted.map { transportPayload($0.packet) }
                == [packets[0..<3].flatMap(transportPayload), packets[3..<6].flatMap(transportPayload)], "\(name)")
        }
        // A different IPv4 Identification is allowed (not required to be consecutive).
        let ids = stream { index, spec in spec.identification = UInt16(index * 1_000) }
        #expect(coalesce(ids, coalescer: ReceiveCoalescer(coalesceUDP: false)).emitted.count == 1)
    }

    @Test("a bad checksum reaches the kernel unchanged, alone, after its flow; a bad IPv4 header too")
    func badChecksum() throws {
        for corrupt in [33 + 12 + 20, 10] {  // a payload octet; the IPv4 header checksum
            var packets = stream()
            packets[3][corrupt] ^= 0x01
            let log = coalesce(packets, coalescer: ReceiveCoalescer(coalesceUDP: false))
            try #require(log.emitted.map(\.packet.count) == [20 + 32 + 3_000, packets[3].count, 20 + 32 + 2_000])
            #expect(log.emitted[1].packet == packets[3], "byte for byte")
            #expect(log.emitted[1].header == VirtioNetHeader())
            // The segments after the bad one still merge with each other.
            #expect(log.emitted[2].header.gsoType == .tcpv4)
        }
        // A bad first segment never holds a flow: everything after it merges.
        var packets = stream()
        packets[0][60] ^= 0xFF
        let log = coalesce(packets, coalescer: ReceiveCoalescer(coalesceUDP: false))
        #expect(log.emitted.count == 2)
        #expect(log.emitted.first?.packet == packets[0])
    }

    @Test("a short segment ends a flow; a longer one after the first cannot join")
    func sizes() {
        let short = stream { index, spec in if index == 2 { spec.payload.removeLast(10) } }
        let shortLog = coalesce(short.prefix(3) + [stream(1) { _, spec in spec.sequenceNumber = 1_000 + 2_990 }[0]],
            coalescer: ReceiveCoalescer(coalesceUDP: false))
        #expect(shortLog.emitted.map(\.packet.count) == [20 + 32 + 2_990, 20 + 32 + 1_000])
        let longer = stream(2) { index, spec in if index == 1 { spec.payload += [1] } }
        #expect(coalesce(longer, coalescer: ReceiveCoalescer(coalesceUDP: false)).emitted.count == 2)
    }

    @Test("at most 64 segments in one super-packet, and no more than 65 535 octets")
    func limits() {
        let packets = stream(70, size: 100)
        let log = coalesce(packets, coalescer: ReceiveCoalescer(coalesceUDP: false))
        #expect(log.emitted.map(\.packet.count) == [52 + 6_400, 52 + 600])
        let big = stream(50, size: 1_448)
        let bigLog = coalesce(big, coalescer: ReceiveCoalescer(coalesceUDP: false))
        let firstCount = (65_535 - 52) / 1_448
        #expect(bigLog.emitted.map(\.packet.count) == [52 + firstCount * 1_448, 52 + (50 - firstCount) * 1_448])
        for emission in bigLog.emitted { checkSuperPacket(emission, gsoSize: 1_448) }
        // With a buffer larger than 64 KiB, the 16-bit IP length fields are the limit.
        let roomy = coalesce(big, coalescer: ReceiveCoalescer(bufferLength: 80_000, coalesceUDP: false))
        #expect(roomy.emitted.map(\.packet.count) == bigLog.emitted.map(\.packet.count))
        let roomyV6 = coalesce(stream(50, size: 1_448) { _, spec in spec.isIPv6 = true },
            coalescer: ReceiveCoalescer(bufferLength: 80_000, coalesceUDP: false))
        let firstCountV6 = (65_535 - 32) / 1_448
        #expect(roomyV6.emitted.map(\.packet.count) == [72 + firstCountV6 * 1_448, 72 + (50 - firstCountV6) * 1_448])
        let small = coalesce(stream(10), coalescer: ReceiveCoalescer(bufferLength: 10 + 52 + 3_000, coalesceUDP: false))
        #expect(small.emitted.map(\.packet.count) == [52 + 3_000, 52 + 3_000, 52 + 3_000, 52 + 1_000])
    }

    @Test("when every flow is held, the oldest is written to make room")
    func eviction() {
        let coalescer = ReceiveCoalescer(maximumFlows: 2, coalesceUDP: false)
        let flows = (0..<3).map { port in stream(2) { _, spec in spec.sourcePort = UInt16(100 + port) } }
        let log = EmissionLog()
        for index in 0..<2 {
            for flow in flows {
                var slot = [UInt8](repeating: 0, count: 10) + flow[index]
                slot.withUnsafeMutableBytes { _ = coalescer.offer($0, packet: 10..<$0.count) { log.record($0) } }
            }
        }
        coalescer.flush { log.record($0) }
        #expect(log.emitted.map { be16($0.packet, 20) } == [100, 101, 102, 100, 101, 102])
        #expect(log.emitted.allSatisfy { $0.header == VirtioNetHeader() }, "each evicted before a second joined")
        #expect(coalescer.heldFlowCount == 0)
    }

    @Test("packets that never merge: ICMP, IPv4 options, fragments, IPv6 extension headers, pure ACKs, SYN")
    func others() {
        let held = stream(2)
        var icmp = PacketSpec(payload: payloadBytes(30)).build()
        icmp[9] = 1
        var withOptions = stream(1) { _, spec in spec.sequenceNumber = 3_000 }[0]
        withOptions.insert(contentsOf: [1, 1, 1, 0], at: 20)
        withOptions[0] = 0x46
        put16(&withOptions, 2, withOptions.count)
        put16(&withOptions, 10, 0)
        put16(&withOptions, 10, Int(naiveChecksum(Array(withOptions[0..<24]))))
        #expect(naiveChecksumsVerify(withOptions))
        var fragment = PacketSpec(payload: payloadBytes(100), sourcePort: 9).build()
        fragment[6] = 0x20
        let pureACK = PacketSpec(payload: [], sequenceNumber: 3_000, options: timestampOption(value: 500)).build()
        let syn = PacketSpec(payload: [], flags: 0x02, sourcePort: 7).build()
        for (name, other, flushesFlow) in [("ICMP", icmp, false), ("IPv4 options", withOptions, true),
            ("fragment", fragment, true), ("pure ACK", pureACK, true), ("SYN of another port", syn, false)]
        {
            let log = coalesce(held + [other], coalescer: ReceiveCoalescer(coalesceUDP: true))
            #expect(log.emitted.count == 2, "\(name)")
            let otherIndex = flushesFlow ? 1 : 0
            #expect(log.emitted[otherIndex].packet == other, "\(name)")
            #expect(log.emitted[otherIndex].header == VirtioNetHeader(), "\(name)")
            #expect(log.emitted[1 - otherIndex].header.gsoType == .tcpv4, "\(name)")
        }
        // Two IPv4 packets with the same options in a row still do not merge. (End-of-list octets sum to
        // 0, so even a header checksum taken over 20 octets only would pass: the IHL rule alone decides.)
        var optionsPair = stream(2)
        for index in 0..<2 {
            optionsPair[index].insert(contentsOf: [0, 0, 0, 0], at: 20)
            optionsPair[index][0] = 0x46
            put16(&optionsPair[index], 2, optionsPair[index].count)
            put16(&optionsPair[index], 10, 0)
            put16(&optionsPair[index], 10, Int(naiveChecksum(Array(optionsPair[index][0..<24]))))
        }
        #expect(coalesce(optionsPair, coalescer: ReceiveCoalescer(coalesceUDP: false)).emitted.map(\.packet) == optionsPair)
        var extensionHeader = PacketSpec(isIPv6: true, payload: payloadBytes(20)).build()
        extensionHeader[6] = 60
        let heldV6 = stream(2) { _, spec in spec.isIPv6 = true }
        let log = coalesce(heldV6 + [extensionHeader], coalescer: ReceiveCoalescer(coalesceUDP: true))
        #expect(log.emitted.map(\.header.gsoType) == [.tcpv6, .none])
        #expect(log.emitted.last?.packet == extensionHeader)
    }

    @Test("UDP: equal datagrams merge; a short one ends the flow; checksum 0 over IPv4 goes alone")
    func udp() {
        func datagrams(_ sizes: [Int], zeroChecksumAt: Int? = nil) -> [[UInt8]] {
            sizes.enumerated().map { index, size in
                var spec = PacketSpec(isTCP: false, payload: payloadBytes(size, seed: UInt8(index)))
                guard index == zeroChecksumAt else { return spec.build() }
                // Data whose checksum is 0xFFFF, sent as 0 ("no checksum"): the sum would even verify, so
                // only the zero-checksum rule keeps it out.
                spec.payload[size - 2] = 0
                spec.payload[size - 1] = 0
                let checksum = be16(spec.build(), 26)
                spec.payload[size - 2] = UInt8(checksum >> 8)
                spec.payload[size - 1] = UInt8(checksum & 0xFF)
                var packet = spec.build()
                #expect(be16(packet, 26) == 0xFFFF)
                put16(&packet, 26, 0)
                #expect(naiveChecksumsVerify(packet))
                return packet
            }
        }
        let log = coalesce(datagrams([500, 500, 500, 200, 500]), coalescer: ReceiveCoalescer(coalesceUDP: true))
        #expect(log.emitted.map(\.packet.count) == [28 + 1_700, 28 + 500])
        checkSuperPacket(log.emitted[0], gsoSize: 500)
        let zero = datagrams([500, 500, 500, 500], zeroChecksumAt: 2)
        let zeroLog = coalesce(zero, coalescer: ReceiveCoalescer(coalesceUDP: true))
        #expect(zeroLog.emitted.map(\.packet.count) == [28 + 1_000, 528, 528])
        #expect(zeroLog.emitted[1].packet == zero[2])
    }

    @Test("headroom under 10 octets goes through a scratch copy; a range outside the slot is refused")
    func headroom() {
        let packets = stream(1)
        let log = coalesce(packets, coalescer: ReceiveCoalescer(coalesceUDP: false), headroom: 3)
        #expect(log.emitted.map(\.packet) == packets)
        let icmpLog = EmissionLog()
        var icmp = PacketSpec(payload: payloadBytes(30)).build()
        icmp[9] = 1
        let coalescer = ReceiveCoalescer(coalesceUDP: false)
        icmp.withUnsafeMutableBytes { slot in
            #expect(coalescer.offer(slot, packet: 0..<slot.count) { icmpLog.record($0) })
            #expect(!coalescer.offer(slot, packet: 0..<(slot.count + 1)) { icmpLog.record($0) })
        }
        #expect(icmpLog.emitted.map(\.packet) == [icmp])
    }
}
