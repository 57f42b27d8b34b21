// The offload path's own per-packet work (issue 8): splitting a 64 KiB TCP super-packet read from the
// TUN device (TSO) into MTU-sized segments with their checksums, and coalescing received segments back
// into one super-packet (GRO). As for the data channel, every sample must show 0 mallocs, and every
// iteration checks its result so a broken split or merge cannot look fast.

import Benchmark
import TernProtocol

/// Octets of TCP payload per segment: a 1420-octet IPv4 packet with 20 + 20 octets of headers.
let segmentPayload = 1380
/// Segments per super-packet: as many as fit 64 KiB, as the kernel's TSO makes them.
let segmentsPerSuperPacket = (65_535 - 40) / segmentPayload

func offloadBenchmarks(_ configuration: Benchmark.Configuration) {
    let octets = makeTCPSuperPacket(segments: segmentsPerSuperPacket, segmentPayload: segmentPayload)
    let superPacket = UnsafeMutableRawBufferPointer.allocate(byteCount: octets.count, alignment: 64)
    superPacket.copyBytes(from: octets)
    let header = VirtioNetHeader(
        flags: VirtioNetHeader.needsChecksumFlag, gsoType: .tcpv4, headerLength: 40, gsoSize: UInt16(segmentPayload),
        checksumStart: 20, checksumOffset: 16)
    // One slot per segment, with room for the virtio header in front (as a receive slot has).
    let headroom = VirtioNetHeader.length + 6
    let slot = UnsafeMutableRawBufferPointer.allocate(byteCount: headroom + 1500, alignment: 64)
    let slots = UnsafeMutableRawBufferPointer.allocate(
        byteCount: segmentsPerSuperPacket * (headroom + 1500), alignment: 64)
    var lengths = [Int](repeating: 0, count: segmentsPerSuperPacket)

    Benchmark("offload: split a \(segmentsPerSuperPacket)-segment TCPv4 super-packet (per super-packet)",
        configuration: configuration) { benchmark in
        var failures = 0
        for _ in benchmark.scaledIterations {
            do {
                var segmenter = try PacketSegmenter(header: header, packet: UnsafeRawBufferPointer(superPacket))
                var count = 0
                while let length = try segmenter.next(into: slot) {
                    count += 1
                    blackHole(length)
                }
                if count != segmentsPerSuperPacket { failures += 1 }
            } catch {
                failures += 1
            }
        }
        precondition(failures == 0, "split: \(failures) super-packets did not give \(segmentsPerSuperPacket) segments")
    }

    // The segments, split once (unmeasured), for the coalescer to merge again and again.
    do {
        var segmenter = try PacketSegmenter(header: header, packet: UnsafeRawBufferPointer(superPacket))
        for index in 0..<segmentsPerSuperPacket {
            let base = index * (headroom + 1500)
            let area = UnsafeMutableRawBufferPointer(rebasing: slots[(base + headroom)..<(base + headroom + 1500)])
            lengths[index] = try segmenter.next(into: area) ?? 0
        }
    } catch {
        fatalError("benchmark set-up: the super-packet does not split: \(error)")
    }
    let coalescer = ReceiveCoalescer(coalesceUDP: false)
    let frozenLengths = lengths
    Benchmark("offload: coalesce \(segmentsPerSuperPacket) TCPv4 segments into one write (per super-packet)",
        configuration: configuration) { benchmark in
        var failures = 0
        for _ in benchmark.scaledIterations {
            var writes = 0
            var octets = 0
            // Closure literals in the calls, as the data plane passes them: non-escaping, so nothing is
            // boxed (a closure kept in a `let` would be, and its captured counters with it).
            for index in 0..<segmentsPerSuperPacket {
                let base = index * (headroom + 1500)
                coalescer.offer(slots, packet: (base + headroom)..<(base + headroom + frozenLengths[index])) { packet in
                    writes += 1
                    octets += packet.count
                }
            }
            coalescer.flush { packet in
                writes += 1
                octets += packet.count
            }
            if writes != 1 || octets != VirtioNetHeader.length + superPacket.count { failures += 1 }
        }
        precondition(failures == 0, "coalesce: \(failures) batches were not one super-packet")
    }
}

/// An IPv4/TCP super-packet as the kernel hands it to a TUN device with TSO: one header, `segments` ×
/// `segmentPayload` octets of payload, total length and IPv4 checksum set, the TCP checksum field
/// holding the pseudo-header sum (CHECKSUM_PARTIAL).
func makeTCPSuperPacket(segments: Int, segmentPayload: Int) -> [UInt8] {
    let payload = segments * segmentPayload
    var packet = [UInt8](repeating: 0, count: 40 + payload)
    let total = packet.count
    packet[0] = 0x45
    packet[2] = UInt8(total >> 8)
    packet[3] = UInt8(total & 0xFF)
    packet[6] = 0x40  // DF
    packet[8] = 64
    packet[9] = 6
    packet.replaceSubrange(12..<20, with: [192, 0, 2, 2, 198, 51, 100, 2])
    packet.replaceSubrange(20..<24, with: [0xC3, 0x50, 0x13, 0x89])  // ports 50000 → 5001
    packet.replaceSubrange(24..<28, with: [0, 0, 0x10, 0])  // sequence number
    packet.replaceSubrange(28..<32, with: [0, 0, 0x20, 0])  // acknowledgment number
    packet[32] = 0x50  // data offset 5
    packet[33] = 0x10  // ACK
    packet[34] = 0xFF
    packet[35] = 0xFF
    for index in 0..<payload { packet[40 + index] = UInt8(truncatingIfNeeded: index &* 31 &+ 7) }
    packet.withUnsafeMutableBytes { bytes in
        let ipChecksum = InternetChecksum.ipv4HeaderChecksum(UnsafeRawBufferPointer(rebasing: bytes[0..<20]))
        bytes[10] = UInt8(ipChecksum >> 8)
        bytes[11] = UInt8(ipChecksum & 0xFF)
        let pseudo = InternetChecksum.fold(
            InternetChecksum.pseudoHeaderSum(
                addresses: UnsafeRawBufferPointer(rebasing: bytes[12..<20]), protocolNumber: InternetChecksum.protocolTCP,
                length: total - 20))
        bytes[36] = UInt8(pseudo >> 8)
        bytes[37] = UInt8(pseudo & 0xFF)
    }
    return packet
}
