// Packet builders and an independent, deliberately naive checksum for the offload tests. Nothing here
// uses TernProtocol's own checksum code, so the tests can catch it being wrong.
import TernProtocol

/// RFC 1071 the slow way: 16-bit big-endian words, one at a time, folded at the end.
func naiveSum(_ bytes: [UInt8]) -> UInt32 {
    var sum: UInt32 = 0
    var index = 0
    while index + 1 < bytes.count {
        sum += UInt32(bytes[index]) << 8 | UInt32(bytes[index + 1])
        index += 2
    }
    if index < bytes.count { sum += UInt32(bytes[index]) << 8 }
    while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
    return sum
}

func naiveChecksum(_ bytes: [UInt8]) -> UInt16 { ~UInt16(naiveSum(bytes)) }

func be16(_ bytes: [UInt8], _ offset: Int) -> Int { Int(bytes[offset]) << 8 | Int(bytes[offset + 1]) }
func be32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
    UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
}
func put16(_ bytes: inout [UInt8], _ offset: Int, _ value: Int) {
    bytes[offset] = UInt8(truncatingIfNeeded: value >> 8)
    bytes[offset + 1] = UInt8(truncatingIfNeeded: value)
}
func put32(_ bytes: inout [UInt8], _ offset: Int, _ value: UInt32) {
    for index in 0..<4 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (24 - 8 * UInt32(index))) }
}

/// The pseudo-header written out as octets (RFC 768; RFC 8200 §8.1), for the naive routine.
func pseudoHeaderBytes(_ packet: [UInt8]) -> [UInt8] {
    let isIPv6 = packet[0] >> 4 == 6
    let ip = isIPv6 ? 40 : Int(packet[0] & 0x0F) * 4
    let length = packet.count - ip
    if isIPv6 {
        return Array(packet[8..<40]) + [0, 0, UInt8(length >> 8), UInt8(length & 0xFF), 0, 0, 0, packet[6]]
    }
    return Array(packet[12..<20]) + [0, packet[9], UInt8(length >> 8), UInt8(length & 0xFF)]
}

/// The IPv4 header checksum and the TCP/UDP checksum both verify, by the naive routine.
func naiveChecksumsVerify(_ packet: [UInt8]) -> Bool {
    let isIPv6 = packet[0] >> 4 == 6
    let ip = isIPv6 ? 40 : Int(packet[0] & 0x0F) * 4
    if !isIPv6 && naiveSum(Array(packet[0..<ip])) != 0xFFFF { return false }
    return naiveSum(pseudoHeaderBytes(packet) + Array(packet[ip...])) == 0xFFFF
}

/// Completes a CHECKSUM_PARTIAL packet as the kernel would: sum from `start` (the field holds the seed),
/// complement, store.
func kernelCompleteChecksum(_ packet: inout [UInt8], start: Int, offset: Int) {
    var value = naiveChecksum(Array(packet[start...]))
    if value == 0 { value = 0xFFFF }
    put16(&packet, start + offset, Int(value))
}

/// Deterministic payload octets.
func payloadBytes(_ count: Int, seed: UInt8 = 0) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ Int(seed) &+ ($0 >> 8)) }
}

/// TCP timestamps option (RFC 7323 §3) padded by two NOPs: 12 octets.
func timestampOption(value: UInt32, echo: UInt32 = 0x0102_0304) -> [UInt8] {
    var option: [UInt8] = [1, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0]
    put32(&option, 4, value)
    put32(&option, 8, echo)
    return option
}

struct PacketSpec {
    var isIPv6 = false
    var isTCP = true
    var payload: [UInt8] = []
    var sequenceNumber: UInt32 = 1000
    var acknowledgmentNumber: UInt32 = 0x5000
    var flags: UInt8 = 0x10
    var window: UInt16 = 502
    var options: [UInt8] = []
    var identification: UInt16 = 0x1234
    var ttl: UInt8 = 64
    var tos: UInt8 = 0
    var flowLabel: UInt32 = 0x12345
    var dontFragment = true
    var sourcePort: UInt16 = 40000
    var destinationPort: UInt16 = 5201
    var sourceHost: UInt8 = 1
    /// Fill the checksums (false: leave the transport checksum 0, as a kernel super-packet carries a seed).
    var checksums = true

    func build() -> [UInt8] {
        let transportHeader = isTCP ? 20 + options.count : 8
        let ip = isIPv6 ? 40 : 20
        var packet = [UInt8](repeating: 0, count: ip + transportHeader + payload.count)
        if isIPv6 {
            put32(&packet, 0, 0x6000_0000 | UInt32(tos) << 20 | flowLabel)
            put16(&packet, 4, transportHeader + payload.count)
            packet[6] = isTCP ? 6 : 17
            packet[7] = ttl
            packet.replaceSubrange(8..<24, with: [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [sourceHost])
            packet.replaceSubrange(24..<40, with: [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [2])
        } else {
            packet[0] = 0x45
            packet[1] = tos
            put16(&packet, 2, packet.count)
            put16(&packet, 4, Int(identification))
            put16(&packet, 6, dontFragment ? 0x4000 : 0)
            packet[8] = ttl
            packet[9] = isTCP ? 6 : 17
            packet.replaceSubrange(12..<20, with: [192, 0, 2, sourceHost, 192, 0, 2, 2])
            put16(&packet, 10, Int(naiveChecksum(Array(packet[0..<20]))))
        }
        put16(&packet, ip, Int(sourcePort))
        put16(&packet, ip + 2, Int(destinationPort))
        if isTCP {
            put32(&packet, ip + 4, sequenceNumber)
            put32(&packet, ip + 8, acknowledgmentNumber)
            packet[ip + 12] = UInt8(transportHeader / 4) << 4
            packet[ip + 13] = flags
            put16(&packet, ip + 14, Int(window))
            packet.replaceSubrange((ip + 20)..<(ip + 20 + options.count), with: options)
        } else {
            put16(&packet, ip + 4, transportHeader + payload.count)
        }
        packet.replaceSubrange((ip + transportHeader)..., with: payload)
        if checksums {
            var value = naiveChecksum(pseudoHeaderBytes(packet) + Array(packet[ip...]))
            if value == 0 && !isTCP { value = 0xFFFF }
            put16(&packet, ip + (isTCP ? 16 : 6), Int(value))
        }
        return packet
    }
}

/// Segments `packet` under `header`; the packets, or the error.
func segment(_ header: VirtioNetHeader, _ packet: [UInt8], destination: Int = 70_000) throws(OffloadError) -> [[UInt8]] {
    var output: [[UInt8]] = []
    var buffer = [UInt8](repeating: 0, count: destination)
    let result: Result<Void, OffloadError> = packet.withUnsafeBytes { input in
        buffer.withUnsafeMutableBytes { destination in
            do throws(OffloadError) {
                var segmenter = try PacketSegmenter(header: header, packet: input)
                while let length = try segmenter.next(into: destination) {
                    output.append(Array(destination[0..<length]))
                }
                return .success(())
            } catch {
                return .failure(error)
            }
        }
    }
    try result.get()
    return output
}

/// Collects what a coalescer emits: each emission as (virtio header, packet).
final class EmissionLog {
    var emitted: [(header: VirtioNetHeader, packet: [UInt8])] = []
    var rawHeaders: [[UInt8]] = []

    func record(_ bytes: UnsafeRawBufferPointer) {
        rawHeaders.append(Array(bytes.prefix(VirtioNetHeader.length)))
        guard let header = try? VirtioNetHeader(parsing: bytes) else {
            emitted.append((VirtioNetHeader(flags: 0xEE), Array(bytes)))
            return
        }
        emitted.append((header, Array(bytes[VirtioNetHeader.length...])))
    }
}

/// Offers each packet of `packets` in a slot with `headroom` octets in front, then flushes.
func coalesce(
    _ packets: [[UInt8]], coalescer: ReceiveCoalescer, headroom: Int = VirtioNetHeader.length, flush: Bool = true
) -> EmissionLog {
    let log = EmissionLog()
    for packet in packets {
        var slot = [UInt8](repeating: 0xAA, count: headroom) + packet
        slot.withUnsafeMutableBytes { slot in
            _ = coalescer.offer(slot, packet: headroom..<slot.count) { log.record($0) }
        }
    }
    if flush { coalescer.flush { log.record($0) } }
    return log
}

/// The transport payload of an IPv4/IPv6 TCP/UDP packet.
func transportPayload(_ packet: [UInt8]) -> [UInt8] {
    let isIPv6 = packet[0] >> 4 == 6
    let ip = isIPv6 ? 40 : Int(packet[0] & 0x0F) * 4
    let protocolNumber = isIPv6 ? packet[6] : packet[9]
    let transportHeader = protocolNumber == 6 ? Int(packet[ip + 12] >> 4) * 4 : 8
    return Array(packet[(ip + transportHeader)...])
}
