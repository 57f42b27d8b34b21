import Testing
import TernProtocol
import TernTestSupport

/// Bytes from the kernel and from the tunnel are not trusted: random, truncated and bit-flipped input must
/// never trap, and whatever comes out must still be well formed.
@Suite("Offloads: hostile input never traps")
struct OffloadHostileInputTests {
    /// Valid super-packets of every kind, small enough that thousands of cases stay quick in a debug build.
    static func seeds() -> [(VirtioNetHeader, [UInt8])] {
        var seeds: [(VirtioNetHeader, [UInt8])] = []
        for (isIPv6, isTCP) in [(false, true), (true, true), (false, false), (true, false)] {
            let spec = PacketSpec(
                isIPv6: isIPv6, isTCP: isTCP, payload: payloadBytes(2_345), flags: 0x19,
                options: isTCP ? timestampOption(value: 3) : [])
            let superPacket = SuperPacket(spec: spec, gsoSize: 300)
            seeds.append((superPacket.header, superPacket.packet))
        }
        return seeds
    }

    /// Segments whatever it is given; every segment of a GSO read must carry valid checksums and lengths.
    func segmentChecked(_ headerBytes: [UInt8], _ packet: [UInt8], _ destination: inout [UInt8]) -> Int {
        guard let header = try? headerBytes.withUnsafeBytes({ try VirtioNetHeader(parsing: $0) }) else { return 0 }
        var produced = 0
        packet.withUnsafeBytes { input in
            destination.withUnsafeMutableBytes { output in
                guard var segmenter = try? PacketSegmenter(header: header, packet: input) else { return }
                #expect(segmenter.segmentCount <= PacketSegmenter.maximumSegmentCount)
                var iterations = 0
                while iterations <= PacketSegmenter.maximumSegmentCount, let length = try? segmenter.next(into: output) {
                    iterations += 1
                    produced += 1
                    guard header.gsoType != .none else { continue }
                    let segment = Array(output[0..<length])
                    #expect(naiveChecksumsVerify(segment), "a segment the segmenter wrote must verify")
                    let declared = segment[0] >> 4 == 6 ? be16(segment, 4) + 40 : be16(segment, 2)
                    #expect(declared == segment.count)
                }
                #expect(iterations <= PacketSegmenter.maximumSegmentCount)
            }
        }
        return produced
    }

    @Test("the segmenter: 20 000 random, truncated and bit-flipped reads")
    func segmenter() {
        var random = SeededRandom(seed: 0x7E57)
        var destination = [UInt8](repeating: 0, count: 4_096)
        let seeds = Self.seeds()
        var produced = 0
        for round in 0..<20_000 {
            var headerBytes = [UInt8](repeating: 0, count: VirtioNetHeader.length)
            var packet: [UInt8]
            switch round % 4 {
            case 0:
                headerBytes = random.bytes(Int.random(in: 0...10, using: &random))
                packet = random.bytes(Int.random(in: 0...200, using: &random))
                if packet.count > 0 && round % 8 == 0 { packet[0] = 0x45 }
            case 1:
                let (header, seedPacket) = seeds[round / 4 % seeds.count]
                header.write(to: &headerBytes)
                packet = Array(seedPacket.prefix(Int.random(in: 0...seedPacket.count, using: &random)))
            default:
                let (header, seedPacket) = seeds[round / 4 % seeds.count]
                header.write(to: &headerBytes)
                packet = seedPacket
                for _ in 0..<Int.random(in: 1...3, using: &random) {
                    if Bool.random(using: &random) {
                        packet[Int.random(in: 0..<min(packet.count, 80), using: &random)] ^= 1 << UInt8.random(in: 0...7, using: &random)
                    } else {
                        headerBytes[Int.random(in: 0..<10, using: &random)] ^= 1 << UInt8.random(in: 0...7, using: &random)
                    }
                }
            }
            produced += segmentChecked(headerBytes, packet, &destination)
        }
        #expect(produced > 5_000, "a fair share of the mutated reads still parse and segment")
    }

    @Test("the coalescer: 20 000 random and mutated packets, odd ranges, then flushes")
    func coalescer() throws {
        var random = SeededRandom(seed: 0xC0A1)
        var segments: [[UInt8]] = []
        for (header, packet) in Self.seeds() { segments += try segment(header, packet) }
        let coalescer = ReceiveCoalescer(maximumFlows: 3, bufferLength: 4_000, coalesceUDP: true)
        var emitted = 0
        var superPackets = 0
        var scratch = [UInt8](repeating: 0, count: 4_096)
        let check: (UnsafeRawBufferPointer) -> Void = { bytes in
            emitted += 1
            guard let header = try? VirtioNetHeader(parsing: bytes) else {
                Issue.record("every emission starts with a virtio_net_hdr")
                return
            }
            guard header.gsoType != .none else { return }
            superPackets += 1
            var packet = Array(bytes[VirtioNetHeader.length...])
            kernelCompleteChecksum(&packet, start: Int(header.checksumStart), offset: Int(header.checksumOffset))
            #expect(naiveChecksumsVerify(packet), "a super-packet must verify once the kernel completes it")
            #expect(self.segmentChecked(Array(bytes.prefix(10)), Array(bytes[10...]), &scratch) >= 2)
        }
        for round in 0..<20_000 {
            var packet: [UInt8]
            switch round % 5 {
            case 0:
                packet = random.bytes(Int.random(in: 0...120, using: &random))
                if let first = packet.indices.first { packet[first] = Bool.random(using: &random) ? 0x45 : 0x60 }
            case 1:
                let base = segments.randomElement(using: &random)!
                packet = Array(base.prefix(Int.random(in: 0...base.count, using: &random)))
            case 2:
                packet = segments.randomElement(using: &random)!
                packet[Int.random(in: 0..<packet.count, using: &random)] ^= 1 << UInt8.random(in: 0...7, using: &random)
            default:
                packet = segments[round / 5 % segments.count]
            }
            let headroom = Int.random(in: 0...12, using: &random)
            var slot = random.bytes(headroom) + packet + random.bytes(Int.random(in: 0...3, using: &random))
            let lower = Int.random(in: 0...(headroom + 1), using: &random)
            let upper = round % 97 == 0 ? slot.count + 1 : headroom + packet.count
            slot.withUnsafeMutableBytes { slot in
                _ = coalescer.offer(slot, packet: min(lower, upper)..<upper, emit: check)
            }
            if round % 50 == 49 { coalescer.flush(emit: check) }
        }
        coalescer.flush(emit: check)
        #expect(coalescer.heldFlowCount == 0)
        #expect(emitted > 10_000)
        #expect(superPackets > 100, "valid runs among the noise still merge")
    }
}

extension VirtioNetHeader {
    /// Test convenience: writes into an array.
    func write(to bytes: inout [UInt8]) {
        _ = bytes.withUnsafeMutableBytes { write(to: $0) }
    }
}
