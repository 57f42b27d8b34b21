import Testing
import TernProtocol
import TernTestSupport

private func text(_ s: String) -> [UInt8] { Array(s.utf8) }

@Suite("MN-HAC container framing (RFC 6618 §5.1)")
struct HACContainerTests {
    @Test("RFC 6618 §5.1: round trip, header layout, every truncation")
    func roundTrip() throws {
        let content = text("mn-id: a@b\r\n\r\n")
        let container = try #require(HACContainer(identifier: 7, content: content))
        let wire = container.encoded()
        #expect(Array(wire.prefix(4)) == [0, 7, 0, UInt8(content.count)])
        #expect(try HACContainer(decoding: wire) == container)
        for cut in 0..<wire.count {
            #expect(throws: HACError.self, "cut at \(cut)") { try HACContainer(decoding: wire.prefix(cut)) }
        }
        #expect(throws: HACError(.trailingOctets)) { try HACContainer(decoding: wire + [0]) }
        let big = try #require(HACContainer(identifier: 255, content: [UInt8](repeating: 0x41, count: 65535)))
        #expect(Array(big.encoded().prefix(4)) == [0, 255, 0xFF, 0xFF])
        #expect(HACContainer(identifier: 0, content: content) == nil)
        #expect(HACContainer(identifier: 1, content: []) == nil)
        #expect(HACContainer(identifier: 1, content: [UInt8](repeating: 0, count: 65536)) == nil)
    }

    @Test("RFC 6618 §5.1: version, reserved bits, Identifier 0, Length 0 and over the limit are refused")
    func rejections() {
        #expect(throws: HACError(.unsupportedVersion(1))) { try HACContainer(decoding: [0x20, 1, 0, 1, 0x41]) }
        #expect(throws: HACError(.unsupportedVersion(7))) { try HACContainer(decoding: [0xE0, 1, 0, 1, 0x41]) }
        #expect(throws: HACError(.reservedBitsSet(1))) { try HACContainer(decoding: [0x01, 1, 0, 1, 0x41]) }
        #expect(throws: HACError(.reservedBitsSet(0x10))) { try HACContainer(decoding: [0x10, 1, 0, 1, 0x41]) }
        #expect(throws: HACError(.zeroIdentifier)) { try HACContainer(decoding: [0, 0, 0, 1, 0x41]) }
        #expect(throws: HACError(.emptyContent)) { try HACContainer(decoding: [0, 1, 0, 0]) }
        #expect(throws: HACError(.contentTooLong(length: 16385, limit: 16384))) {
            try HACContainer(decoding: [0, 1, 0x40, 0x01])
        }
        var decoder = HACContainerDecoder()
        // Refused from the header alone, before the Content arrives.
        #expect(throws: HACError(.contentTooLong(length: 65535, limit: 16384))) {
            try decoder.append([0, 1, 0xFF, 0xFF])
            _ = try decoder.next()
        }
        // A failed decoder stays failed.
        #expect(throws: HACError.self) { try decoder.append([0, 1, 0, 1, 0x41]) }
        #expect(throws: HACError.self) { _ = try decoder.next() }
    }

    @Test("RFC 6618 §5.1: the streaming decoder, byte by byte and in random chunks")
    func streaming() throws {
        var generator = SeededRandom(seed: 6618)
        let containers = (1...20).map { index in
            HACContainer(identifier: UInt8(index), content: generator.bytes(Int.random(in: 1...3000, using: &generator)))!
        }
        let stream = containers.flatMap { $0.encoded() }
        var decoder = HACContainerDecoder()
        var out: [HACContainer] = []
        for byte in stream {
            try decoder.append([byte])
            while let container = try decoder.next() { out.append(container) }
        }
        #expect(out == containers)
        try decoder.finish()
        for round in 0..<20 {
            var chunked = HACContainerDecoder()
            var got: [HACContainer] = []
            var index = 0
            while index < stream.count {
                let size = min(Int.random(in: 1...5000, using: &generator), stream.count - index)
                try chunked.append(stream[index..<index + size])
                index += size
                while let container = try chunked.next() { got.append(container) }
            }
            #expect(got == containers, "round \(round)")
        }
        var partial = HACContainerDecoder()
        try partial.append(stream.prefix(10))
        _ = try partial.next()
        #expect(throws: HACError.self) { try partial.finish() }
    }

    @Test("RFC 6618 §5.3 lock-step: a peer far ahead of the exchange is refused")
    func buffering() throws {
        var decoder = HACContainerDecoder(maximumContentLength: 100)
        #expect(decoder.maximumBufferedLength == 208)
        try decoder.append([UInt8](repeating: 0, count: 200))
        #expect(throws: HACError(.tooMuchBufferedData(limit: 208))) { try decoder.append([UInt8](repeating: 0, count: 9)) }
    }
}

@Suite("TV-headers (RFC 6618 §5.2, §5.5)")
struct TVHeaderTests {
    @Test("RFC 6618 §5.8: canonical MHAuth-Init byte-exact")
    func canonicalInit() {
        var message = HACMessage()
        message.mnID = NetworkAccessIdentifier("laptop@home.example")
        message.authMethods = [.psk]
        message.mnRand = HACNonce(octets: [UInt8](0..<32))
        let expected =
            "mn-id: laptop@home.example\r\nauth-method: psk\r\n"
            + "mn-rand: 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\r\n\r\n"
        #expect(message.serializedHeaders().finished() == text(expected))
        #expect(message.serializedHeaders().finished(auth: [0xAB, 0x01]) == text(expected.dropLast(1) + "auth: ab01\r\n\r\n"))  // "\r\n" is one Character
    }

    @Test("RFC 6618 §5.6-5.7: canonical SA and bootstrap headers byte-exact; they parse back")
    func canonicalResponse() throws {
        var message = HACMessage()
        message.scope = .allTraffic
        message.ciphersuite = .aes128CBCSHA
        message.spi = SecurityParameterIndex(rawValue: 268_435_455)
        message.mnToHAIntegrityKey = [0xAB, 0xCD]
        message.validityEnd = HTTPDate(secondsSince1970: 784_111_777)
        message.homeAgentIPv6 = IPv6Address("2001:db8::1")
        message.homeAgentIPv4 = IPv4Address("192.0.2.1")
        message.port = 7872
        message.homeAddressIPv6 = IPv6Address("fd77::2")
        message.homeNetworkPrefixIPv6 = IPPrefix("fd77::/64")
        message.homeNetworkPrefixIPv4 = IPPrefix("10.77.0.0/24")
        message.dnsIPv6 = [IPv6Address("fd77::1")!, IPv6Address("fd77::53")!]
        message.dnsIPv4 = [IPv4Address("10.77.0.1")!]
        message.statusCode = .ok
        let expected = """
            mip6-sas: 1\r
            mip6-ciphersuite: {00,2F}\r
            mip6-spi: 268435455\r
            mip6-mn-to-ha-ikey: abcd\r
            mip6-sa-validity-end: Sun, 06 Nov 1994 08:49:37 GMT\r
            mip6-haa-ip6: 2001:db8:0:0:0:0:0:1\r
            mip6-haa-ip4: 192.0.2.1\r
            mip6-port: 7872\r
            mip6-ip6-hoa: fd77:0:0:0:0:0:0:2\r
            mip6-ip6-hnp: fd77:0:0:0:0:0:0:0/64\r
            mip6-ip4-hnp: 10.77.0.0/24\r
            dns-ip6: fd77:0:0:0:0:0:0:1\r
            dns-ip6: fd77:0:0:0:0:0:0:53\r
            dns-ip4: 10.77.0.1\r
            status-code: 200\r
            \r

            """
        let bytes = message.serializedHeaders().finished()
        #expect(String(decoding: bytes, as: UTF8.self) == expected)
        #expect(try HACMessage(parsing: bytes) == message)
    }

    @Test("RFC 6618 §5.5.5: msg-octets end where the auth line starts; names match case-insensitively")
    func authOctets() throws {
        let content = text("MN-Rand:\t" + String(repeating: "AB", count: 32) + "  \r\nX-Future: whatever\r\nAUTH: 0011\r\n\r\n")
        let block = try TVHeaderBlock(parsing: content)
        #expect(block.headers.map(\.name) == ["mn-rand", "x-future"])
        #expect(block.auth?.value == "0011")
        #expect(block.auth?.line == 3)
        #expect(block.authenticatedOctets == Array(content.prefix(content.count - 14)))
        let message = try HACMessage(block)
        #expect(message.mnRand == HACNonce(octets: [UInt8](repeating: 0xAB, count: 32)))
        let noAuth = try TVHeaderBlock(parsing: text("a: b\r\n\r\n"))
        #expect(noAuth.auth == nil && noAuth.authenticatedOctets == text("a: b\r\n"))
    }

    @Test("RFC 6618 §5.2, §5.5.5, §5.5.7: malformed header blocks are refused with header and line")
    func rejections() {
        func expectKind(_ s: String, _ kind: HACError.Kind, line: Int? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
            do {
                _ = try TVHeaderBlock(parsing: text(s))
                Issue.record("accepted \(s.debugDescription)", sourceLocation: sourceLocation)
            } catch {
                #expect(error.kind == kind, sourceLocation: sourceLocation)
                if let line { #expect(error.line == line, sourceLocation: sourceLocation) }
            }
        }
        expectKind("auth: 00\r\nmn-id: a\r\n\r\n", .authNotLast, line: 2)
        expectKind("mn-id: a\r\nMN-ID: b\r\n\r\n", .duplicateHeader, line: 2)
        expectKind("mn-id: a\nauth: 00\r\n\r\n", .bareLineBreak, line: 1)
        expectKind("mn-id: a\r\n\n", .bareLineBreak, line: 2)
        expectKind("mn-id: a\rb\r\n\r\n", .bareLineBreak, line: 1)
        expectKind("mn-id: a\r\n", .missingEndOfMessage)
        expectKind("mn-id: a\r\n\r", .missingEndOfMessage)
        expectKind("", .missingEndOfMessage)
        expectKind("mn-id: a\r\n\r\nx", .trailingOctets)
        expectKind("mn-id a\r\n\r\n", .malformedLine)
        expectKind(": a\r\n\r\n", .malformedLine)
        expectKind("mn id: a\r\n\r\n", .malformedLine)
        expectKind("mn-id: a\r\n b\r\n\r\n", .malformedLine, line: 2)
        expectKind("mn-id: a\u{7F}\r\n\r\n", .invalidCharacter)
        expectKind("mn-id: \u{E9}\r\n\r\n", .invalidCharacter)
        expectKind("x: " + String(repeating: "a", count: 1022) + "\r\n\r\n", .lineTooLong(limit: 1024))
        expectKind((0..<65).map { "h\($0): v\r\n" }.joined() + "\r\n", .tooManyHeaders(limit: 64), line: 65)
        expectKind(String(repeating: "dns-ip4: 1.2.3.4\r\n", count: 9) + "\r\n", .tooManyRepetitions(limit: 8))
        #expect(throws: Never.self) { try TVHeaderBlock(parsing: text("x: " + String(repeating: "a", count: 1021) + "\r\n\r\n")) }
        #expect(throws: Never.self) { try TVHeaderBlock(parsing: text(String(repeating: "dns-ip4: 1.2.3.4\r\n", count: 8) + "\r\n")) }
        #expect(throws: Never.self) { try TVHeaderBlock(parsing: text("\r\n")) }
    }

    @Test("RFC 6618 §5.5-5.7: every typed parameter, valid and invalid")
    func typedParameters() throws {
        func parse(_ name: String, _ value: String) throws(HACError) -> HACMessage {
            try HACMessage(parsing: text("\(name): \(value)\r\n\r\n"))
        }
        func refused(_ name: String, _ value: String, sourceLocation: SourceLocation = #_sourceLocation) {
            do {
                _ = try parse(name, value)
                Issue.record("\(name): \(value) accepted", sourceLocation: sourceLocation)
            } catch {
                #expect(error.header == name, sourceLocation: sourceLocation)
                #expect(error.line == 1, sourceLocation: sourceLocation)
                #expect(error.status == .badRequest, sourceLocation: sourceLocation)
            }
        }
        #expect(try parse("mn-id", "joe.bloggs+vpn@example.com").mnID?.text == "joe.bloggs+vpn@example.com")
        #expect(try parse("mn-id", "joe").mnID?.text == "joe")
        for bad in ["", "@example.com", "joe@", "joe@-x.com", "joe@x..com", ".joe@x", "jo..e@x", "a@b@c", "jo e@x",
                    String(repeating: "a", count: 254), "joe@x_y"] {
            refused("mn-id", bad)
        }
        #expect(try parse("auth-method", "PSK , eap").authMethods == [.psk, .eap])
        #expect(try parse("auth-method", "eap,future").authMethods == [.eap])
        for bad in ["", "psk,", ",psk", "a,b,c,d,e,f,g,h,i"] { refused("auth-method", bad) }
        for code in HACStatusCode.allCases {
            #expect(try parse("status-code", String(code.rawValue)).statusCode == code)
        }
        for bad in ["201", "2000", "0200", "ok", ""] { refused("status-code", bad) }
        #expect(try parse("mn-rand", String(repeating: "aB", count: 32)).mnRand?.description == String(repeating: "ab", count: 32))
        for bad in [String(repeating: "ab", count: 31), String(repeating: "ab", count: 33), String(repeating: "zz", count: 32)] {
            refused("mn-rand", bad)
            refused("hac-rand", bad)
        }
        #expect(try parse("mip6-spi", "1").spi?.rawValue == 1)
        #expect(try parse("mip6-spi", "268435455").spi?.rawValue == 268_435_455)
        for bad in ["0", "268435456", "-1", "+1", "1e3", "", "99999999999"] { refused("mip6-spi", bad) }
        for name in ["mip6-mn-to-ha-ikey", "mip6-ha-to-mn-ikey", "mip6-mn-to-ha-ekey", "mip6-ha-to-mn-ekey", "eap-payload"] {
            #expect(try parse(name, "00FFaa").serializedHeaders().octets == text("\(name): 00ffaa\r\n"))
            for bad in ["", "abc", "xy", "0 1"] { refused(name, bad) }
        }
        #expect(try parse("mip6-sas", "0").scope == .signalingOnly)
        #expect(try parse("mip6-sas", "1").scope == .allTraffic)
        for bad in ["2", "O", "01", ""] { refused("mip6-sas", bad) }
        #expect(try parse("mip6-ciphersuite", "{13,01}").ciphersuite == .aes128GCMSHA256)
        #expect(try parse("mip6-ciphersuite", "{ 00 , 2f }").ciphersuite == .aes128CBCSHA)
        for bad in ["{00,2F", "00,2F", "{00,99}", "{0,2F}", ""] { refused("mip6-ciphersuite", bad) }
        let list = try parse("mip6-suitelist", "{13,01}, {00,2f},{FF,FF} ,{00,02}")
        #expect(list.suiteList == [.aes128GCMSHA256, .aes128CBCSHA, .nullSHA])
        #expect(list.unsupportedSuiteCount == 1)
        #expect(list.serializedHeaders().octets == text("mip6-suitelist: {13,01},{00,2F},{00,02}\r\n"))
        for bad in ["", "{13,01},", "{13,01};{00,2F}", "{13,01}{00,2F}", "{13", "{xx,01}"] { refused("mip6-suitelist", bad) }
        refused("mip6-suitelist", Array(repeating: "{00,2F}", count: 33).joined(separator: ","))
        #expect(try parse("mip6-haa-ip6", "2001:DB8::1").homeAgentIPv6?.uncompressedDescription == "2001:db8:0:0:0:0:0:1")
        #expect(try parse("mip6-ip6-hoa", "::ffff:10.0.0.1").homeAddressIPv6 == IPv6Address(mapping: IPv4Address(10, 0, 0, 1)))
        #expect(try parse("dns-ip6", "fd77:0:0:0:0:0:0:53").dnsIPv6 == [IPv6Address("fd77::53")!])
        for name in ["mip6-haa-ip6", "mip6-ip6-hoa", "dns-ip6"] {
            for bad in ["192.0.2.1", "1::2::3", "fd77::/64", "[::1]", ""] { refused(name, bad) }
        }
        for name in ["mip6-haa-ip4", "mip6-ip4-hoa", "dns-ip4"] {
            #expect(throws: Never.self) { try parse(name, "192.0.2.1") }
            for bad in ["192.0.2", "256.0.0.1", "010.0.0.1", "::1", "192.0.2.1/32"] { refused(name, bad) }
        }
        #expect(try parse("mip6-ip6-hnp", "fd77::/64").homeNetworkPrefixIPv6 == IPPrefix("fd77::/64"))
        #expect(try parse("mip6-ip6-hnp", "fd77::/128").homeNetworkPrefixIPv6?.length == 128)
        #expect(try parse("mip6-ip4-hnp", "10.77.0.0/16").homeNetworkPrefixIPv4 == IPPrefix("10.77.0.0/16"))
        for bad in ["fd77::", "fd77::/129", "10.0.0.0/8", "fd77::/x"] { refused("mip6-ip6-hnp", bad) }
        for bad in ["10.0.0.0", "10.0.0.0/33", "fd77::/64"] { refused("mip6-ip4-hnp", bad) }
        #expect(try parse("mip6-port", "7872").port == 7872)
        #expect(try parse("mip6-port", "65535").port == 65535)
        for bad in ["0", "65536", "-1", "", "123456", "80a"] { refused("mip6-port", bad) }
        #expect(try parse("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT").retryAfter?.secondsSince1970 == 784_111_777)
        refused("mip6-sa-validity-end", "Sunday, 06-Nov-94 08:49:37 GMT")
        #expect(try parse("x-unknown", "anything at all").unsupportedSuiteCount == 0)
    }

    @Test("RFC 2616 §3.3.1 rfc1123-date: known values, round trips, refusals")
    func dates() throws {
        #expect(HTTPDate(parsing: "Sun, 06 Nov 1994 08:49:37 GMT")?.secondsSince1970 == 784_111_777)
        #expect(HTTPDate(secondsSince1970: 0)?.description == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(HTTPDate(secondsSince1970: 951_782_400)?.description == "Tue, 29 Feb 2000 00:00:00 GMT")
        #expect(HTTPDate(secondsSince1970: 4_102_444_799)?.description == "Thu, 31 Dec 2099 23:59:59 GMT")
        #expect(HTTPDate(secondsSince1970: 4_107_542_400)?.description == "Mon, 01 Mar 2100 00:00:00 GMT", "2100 is no leap year")
        #expect(HTTPDate(secondsSince1970: 253_402_300_799)?.description == "Fri, 31 Dec 9999 23:59:59 GMT")
        #expect(HTTPDate(secondsSince1970: 253_402_300_800) == nil)
        #expect(HTTPDate(secondsSince1970: -1) == nil)
        #expect(HTTPDate(parsing: "Sun, 31 Dec 1995 23:59:60 GMT")?.secondsSince1970 == 820_454_400)
        var generator = SeededRandom(seed: 1123)
        for _ in 0..<2000 {
            let seconds = Int64.random(in: 0..<253_402_300_800, using: &generator)
            let date = try #require(HTTPDate(secondsSince1970: seconds))
            #expect(HTTPDate(parsing: date.description) == date, "\(date)")
        }
        for bad in [
            "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 06 nov 1994 08:49:37 GMT",
            "Sun 06 Nov 1994 08:49:37 GMT ", "Xyz, 06 Nov 1994 08:49:37 GMT", "Sun, 30 Feb 2000 08:49:37 GMT",
            "Sun, 29 Feb 1900 08:49:37 GMT", "Sun, 06 Nov 1969 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:60:37 GMT", "Sun, 06 Nov 1994 08:49:61 GMT", "Sun, 00 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37", "", "Sun,  6 Nov 1994 08:49:37 GMT", "Sun, 06 Nov +994 08:49:37 GMT",
        ] {
            #expect(HTTPDate(parsing: bad) == nil, "\(bad)")
        }
    }

    @Test("RFC 6618 §5.1-5.2: random and mutated input never traps")
    func fuzz() {
        var generator = SeededRandom(seed: 0xF022)
        let alphabet = text("abcmn-id:auth\r\n \t{},0123456789@.:/")
        var seeds: [[UInt8]] = [
            text("mn-id: a@b\r\nauth-method: psk\r\nmn-rand: " + String(repeating: "ab", count: 32) + "\r\n\r\n"),
            text("mip6-suitelist: {13,01},{00,2F}\r\nmip6-sas: 1\r\ndns-ip6: fd77::1\r\nmip6-ip6-hnp: fd77::/64\r\nauth: 00\r\n\r\n"),
            text("mip6-sa-validity-end: Sun, 06 Nov 1994 08:49:37 GMT\r\nmip6-port: 7872\r\nstatus-code: 200\r\n\r\n"),
        ]
        for _ in 0..<3000 {
            var input: [UInt8]
            switch Int.random(in: 0..<3, using: &generator) {
            case 0: input = generator.bytes(Int.random(in: 0...200, using: &generator))
            case 1: input = (0..<Int.random(in: 0...200, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }
            default:
                input = seeds.randomElement(using: &generator)!
                for _ in 0..<Int.random(in: 1...6, using: &generator) where !input.isEmpty {
                    let at = Int.random(in: 0..<input.count, using: &generator)
                    switch Int.random(in: 0..<3, using: &generator) {
                    case 0: input[at] = alphabet.randomElement(using: &generator)!
                    case 1: input.remove(at: at)
                    default: input.insert(UInt8.random(in: 0...255, using: &generator), at: at)
                    }
                }
                if Bool.random(using: &generator) { seeds.append(input) }
            }
            _ = try? HACMessage(parsing: input)
            _ = try? HACContainer(decoding: input)
            var decoder = HACContainerDecoder(maximumContentLength: Int.random(in: 1...300, using: &generator))
            _ = try? decoder.append(input)
            while let container = try? decoder.next() { _ = try? HACMessage(parsing: container.content) }
        }
    }
}
