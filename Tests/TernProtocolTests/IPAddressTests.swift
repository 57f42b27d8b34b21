import Testing
import TernProtocol

@Suite("IP addresses and prefixes")
struct IPAddressTests {
    @Test("IPv4 parsing and printing")
    func ipv4() {
        #expect(IPv4Address("192.0.2.1")?.rawValue == 0xC000_0201)
        #expect(IPv4Address("255.255.255.255")?.description == "255.255.255.255")
        for bad in ["", "1.2.3", "1.2.3.4.5", "256.0.0.1", "01.2.3.4", "1..3.4", "a.b.c.d", "1.2.3.4 ", "+1.2.3.4"] {
            #expect(IPv4Address(bad) == nil, "\(bad)")
        }
    }

    @Test("IPv6: every RFC 4291 §2.2 form; RFC 5952 output; DESIGN's uncompressed spelling")
    func ipv6() throws {
        let cases: [(String, String)] = [
            ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
            ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
            ("::", "::"), ("::1", "::1"), ("1::", "1::"), ("fd77::2", "fd77::2"),
            ("::ffff:198.18.0.1", "::ffff:c612:1"), ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"),
            ("1:0:2:0:0:3:0:4", "1:0:2::3:0:4"),
        ]
        for (input, output) in cases {
            let address = try #require(IPv6Address(input), "\(input)")
            #expect(address.description == output, "\(input)")
            #expect(IPv6Address(output) == address)
        }
        #expect(IPv6Address("fd77::2")?.uncompressedDescription == "fd77:0:0:0:0:0:0:2")
        #expect(IPv6Address("::ffff:198.18.0.1")?.mappedIPv4 == IPv4Address(198, 18, 0, 1))
        #expect(IPv6Address(mapping: IPv4Address(192, 0, 2, 1)).mappedIPv4 == IPv4Address(192, 0, 2, 1))
        for bad in ["", ":", ":::", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", "1:2:3:4:5:6:7:",
                    "g::1", "::1.2.3", "1:2:3:4:5:6:7::8:9"] {
            #expect(IPv6Address(bad) == nil, "\(bad)")
        }
        #expect(IPv6Address(octets: [UInt8](repeating: 0, count: 15) + [1]) == IPv6Address("::1"))
        #expect(IPv6Address("2001:db8::1")?.octets.count == 16)
    }

    @Test("prefixes contain what they should")
    func prefixes() throws {
        let v4 = try #require(IPPrefix("192.0.2.0/24"))
        #expect(v4.contains(.v4(IPv4Address(192, 0, 2, 77))))
        #expect(!v4.contains(.v4(IPv4Address(192, 0, 3, 1))))
        #expect(try #require(IPPrefix("0.0.0.0/0")).contains(.v4(IPv4Address(8, 8, 8, 8))))
        let v6 = try #require(IPPrefix("2001:db8:1::/48"))
        #expect(v6.contains(try #require(IPAddress("2001:db8:1:ffff::1"))))
        #expect(!v6.contains(try #require(IPAddress("2001:db8:2::1"))))
        #expect(!v6.contains(.v4(IPv4Address(192, 0, 2, 1))))
        #expect(try #require(IPPrefix("2001:db8::1/127")).contains(try #require(IPAddress("2001:db8::"))))
        #expect(IPPrefix("192.0.2.1")?.length == 32)
        #expect(IPPrefix("[2001:db8::1]")?.length == 128)
        for bad in ["192.0.2.0/33", "2001:db8::/129", "192.0.2.0/", "192.0.2.0/-1", "/24", "x/24", "192.0.2.0/2a"] {
            #expect(IPPrefix(bad) == nil, "\(bad)")
        }
    }
}
