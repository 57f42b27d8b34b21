import Testing
import TernProtocol
import TernTestSupport

@Suite("Internet checksum (RFC 1071)")
struct InternetChecksumTests {
    @Test("RFC 1071 §3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2, checksum 220d")
    func rfcExample() {
        let bytes: [UInt8] = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]
        bytes.withUnsafeBytes {
            #expect(InternetChecksum.sum($0) == 0xddf2)
            #expect(InternetChecksum.checksum($0) == 0x220d)
        }
        #expect(naiveSum(bytes) == 0xddf2, "the test's own routine agrees with the RFC")
    }

    @Test("a known IPv4 header: checksum b861 (the classic 45 00 00 73 … c0 a8 00 c7 example)")
    func ipv4Header() {
        var header = hex("4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7")
        header.withUnsafeBytes {
            #expect(InternetChecksum.ipv4HeaderChecksum($0) == 0xb861, "the stored field is ignored")
            #expect(InternetChecksum.fold(InternetChecksum.sum($0)) == 0xFFFF, "a valid header sums to all ones")
        }
        header[10] = 0x12
        header.withUnsafeBytes { #expect(InternetChecksum.ipv4HeaderChecksum($0) == 0xb861) }
        header[10] = 0
        header[11] = 0
        header.withUnsafeBytes { #expect(InternetChecksum.checksum($0) == 0xb861) }
    }

    @Test("random data: the fast sum equals a naive 16-bit sum for every length 0…300, odd starts, and 64 KiB")
    func randomCrossCheck() {
        var random = SeededRandom(seed: 1071)
        var lengths = Array(0...300)
        lengths += [1_023, 1_500, 4_095, 9_000, 65_535, 65_536, 65_543]
        for length in lengths {
            let start = Int.random(in: 0...7, using: &random)
            let storage = random.bytes(start + length)
            let initial = UInt32.random(in: 0...0x3FFFF, using: &random)
            let expected = naiveSum(Array(storage[start...]))
            storage.withUnsafeBytes { all in
                let slice = UnsafeRawBufferPointer(rebasing: all[start...])
                #expect(InternetChecksum.sum(slice) == expected, "length \(length) start \(start)")
                let withInitial = InternetChecksum.fold(InternetChecksum.sum(slice, initial: initial))
                let naiveWithInitial = UInt32(expected) + initial
                #expect(withInitial == UInt16(naiveSum32(naiveWithInitial)), "initial \(initial)")
            }
        }
    }

    @Test("all ones and all zeros: the sums that sit at the edges of one's complement")
    func edges() {
        let ones = [UInt8](repeating: 0xFF, count: 4_099)
        ones.withUnsafeBytes { #expect(InternetChecksum.sum($0) == UInt32(naiveSum(ones))) }
        let zeros = [UInt8](repeating: 0, count: 77)
        zeros.withUnsafeBytes {
            #expect(InternetChecksum.sum($0) == 0)
            #expect(InternetChecksum.checksum($0) == 0xFFFF)
        }
        #expect(InternetChecksum.fold(UInt32(0x1_FFFE)) == 0xFFFF)
        #expect(InternetChecksum.fold(UInt32(0xFFFF_FFFF)) == 0xFFFF)
        #expect(InternetChecksum.fold(UInt64.max) == 0xFFFF)
        #expect(InternetChecksum.fold(UInt32(0x1_0000)) == 1)
        #expect(InternetChecksum.sum(UnsafeRawBufferPointer(start: nil, count: 0), initial: 0x1_0001) == 2)
    }

    @Test("copy-and-sum copies exactly and sums like sum(_:)")
    func copyAndSum() {
        var random = SeededRandom(seed: 9)
        for length in [0, 1, 7, 8, 9, 63, 64, 65, 1_399, 65_000] {
            let source = random.bytes(length + 3)
            var destination = [UInt8](repeating: 0x5A, count: length + 8)
            let sum = source.withUnsafeBytes { src in
                destination.withUnsafeMutableBytes { dst in
                    InternetChecksum.copyAndSum(
                        from: src.baseAddress! + 3, to: dst.baseAddress! + 1, count: length, initial: 0x1234)
                }
            }
            #expect(Array(destination[1..<(1 + length)]) == Array(source[3...]), "length \(length)")
            #expect(destination[0] == 0x5A && destination[length + 1] == 0x5A, "nothing written outside")
            #expect(sum == naiveSum32(UInt32(naiveSum(Array(source[3...]))) + 0x1234))
        }
    }

    @Test("pseudo-header sums: from header octets and from typed addresses agree with RFC 768 / RFC 8200 §8.1")
    func pseudoHeaders() {
        let v4 = PacketSpec(isIPv6: false, payload: payloadBytes(33)).build()
        let v6 = PacketSpec(isIPv6: true, isTCP: false, payload: payloadBytes(1_001)).build()
        for packet in [v4, v6] {
            let isIPv6 = packet[0] >> 4 == 6
            let ip = isIPv6 ? 40 : 20
            let expected = naiveSum(pseudoHeaderBytes(packet))
            let protocolNumber = isIPv6 ? packet[6] : packet[9]
            packet.withUnsafeBytes {
                let addresses = UnsafeRawBufferPointer(rebasing: $0[(isIPv6 ? 8 : 12)..<(isIPv6 ? 40 : 20)])
                let sum = InternetChecksum.pseudoHeaderSum(
                    addresses: addresses, protocolNumber: protocolNumber, length: packet.count - ip)
                #expect(sum == expected)
            }
        }
        let typed4 = InternetChecksum.pseudoHeaderSum(
            source: IPv4Address(192, 0, 2, 1), destination: IPv4Address(192, 0, 2, 2), protocolNumber: 6,
            length: v4.count - 20)
        #expect(typed4 == naiveSum(pseudoHeaderBytes(v4)))
        let typed6 = InternetChecksum.pseudoHeaderSum(
            source: IPv6Address("2001:db8::1")!, destination: IPv6Address("2001:db8::2")!, protocolNumber: 17,
            length: v6.count - 40)
        #expect(typed6 == naiveSum(pseudoHeaderBytes(v6)))
        // RFC 8200's upper-layer length is 32 bits: a jumbo length still sums both halves.
        let jumbo = InternetChecksum.pseudoHeaderSum(
            source: IPv6Address.any, destination: IPv6Address.any, protocolNumber: 6, length: 0x1_0002)
        #expect(jumbo == 6 + 1 + 2)
    }
}

/// Folds a 32-bit sum the naive way.
func naiveSum32(_ value: UInt32) -> UInt32 {
    var sum = UInt64(value)
    while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
    return UInt32(sum)
}
