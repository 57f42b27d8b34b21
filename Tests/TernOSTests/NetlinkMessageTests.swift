import Testing
import TernOS
import TernProtocol

#if canImport(Glibc)
import Glibc
#endif

/// Lowercase hex of `bytes`, for comparing encodings with hand-computed layouts.
private func hex(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}

/// A reply datagram as the kernel would write it (host byte order), for the parser tests.
private struct ReplyBuilder {
    var bytes: [UInt8] = []

    mutating func integer<Value: FixedWidthInteger>(_ value: Value) {
        withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
    }

    mutating func header(length: Int, type: UInt16, flags: UInt16 = 0, sequence: UInt32, portID: UInt32 = 0) {
        integer(UInt32(length))
        integer(type)
        integer(flags)
        integer(sequence)
        integer(portID)
    }

    mutating func pad() {
        while bytes.count % 4 != 0 { bytes.append(0) }
    }

    /// NLMSG_ERROR carrying `code`, echoing a capped request header, with an optional extended-ACK text.
    mutating func error(_ code: Int32, sequence: UInt32, message: String? = nil) {
        let text = message.map { Array($0.utf8) + [0] }
        let attributeLength = text.map { 4 + $0.count } ?? 0
        let alignedAttribute = (attributeLength + 3) & ~3
        var flags = RouteNetlinkMessage.NLM_F_CAPPED
        if text != nil { flags |= RouteNetlinkMessage.NLM_F_ACK_TLVS }
        header(length: 16 + 4 + 16 + alignedAttribute, type: RouteNetlinkMessage.NLMSG_ERROR, flags: flags,
            sequence: sequence)
        integer(code)
        // The echoed request header.
        integer(UInt32(40))
        integer(RouteNetlinkMessage.RTM_NEWADDR)
        integer(UInt16(0x505))
        integer(sequence)
        integer(UInt32(0))
        if let text {
            integer(UInt16(attributeLength))
            integer(RouteNetlinkMessage.NLMSGERR_ATTR_MSG)
            bytes.append(contentsOf: text)
            pad()
        }
    }

    /// RTM_NEWLINK for `index`, with an IFLA_IFNAME of odd length so the message needs padding.
    mutating func link(index: Int32, sequence: UInt32, name: String = "dummy0") {
        let nameBytes = Array(name.utf8) + [0]
        let length = 16 + 16 + 4 + nameBytes.count  // deliberately not rounded up
        header(length: length, type: RouteNetlinkMessage.RTM_NEWLINK, sequence: sequence)
        bytes.append(contentsOf: [0, 0, 0, 0])  // family, pad, type
        integer(index)
        integer(UInt32(1))  // IFF_UP
        integer(UInt32(0))
        integer(UInt16(4 + nameBytes.count))
        integer(RouteNetlinkMessage.IFLA_IFNAME)
        bytes.append(contentsOf: nameBytes)
        pad()
    }
}

/// A tiny deterministic generator (SplitMix64), so a failing fuzz case can be reproduced.
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

private func prefix(_ text: String) throws -> IPPrefix {
    try #require(IPPrefix(text), "\(text) is a prefix")
}

#if _endian(little)
@Suite("rtnetlink request encoding (hand-computed layouts, little-endian)")
struct NetlinkRequestEncodingTests {
    @Test("RTM_NEWLINK: up with IFLA_MTU")
    func linkUpWithMTU() {
        let request = RouteNetlinkMessage.setLink(index: 7, up: true, mtu: 1400, sequence: 1)
        #expect(
            hex(request.bytes)
                == "28000000" + "1000" + "0500" + "01000000" + "00000000"  // nlmsghdr: 40, RTM_NEWLINK, REQUEST|ACK
                + "00" + "00" + "0000" + "07000000" + "01000000" + "01000000"  // ifinfomsg: index 7, IFF_UP/IFF_UP
                + "0800" + "0400" + "78050000")  // IFLA_MTU 1400
        #expect(request.sequence == 1)
        #expect(request.operation == "set interface index 7 up, MTU 1400")
    }

    @Test("RTM_NEWLINK: down, MTU untouched")
    func linkDown() {
        let request = RouteNetlinkMessage.setLink(index: 3, up: false, mtu: nil, sequence: 2)
        #expect(
            hex(request.bytes)
                == "20000000" + "1000" + "0500" + "02000000" + "00000000"
                + "00000000" + "03000000" + "00000000" + "01000000")  // flags 0, change IFF_UP
    }

    @Test("RTM_NEWADDR IPv4: IFA_LOCAL and IFA_ADDRESS, CREATE|REPLACE")
    func addIPv4Address() throws {
        let request = RouteNetlinkMessage.address(.add, try prefix("192.0.2.1/24"), interfaceIndex: 7, sequence: 3)
        #expect(
            hex(request.bytes)
                == "28000000" + "1400" + "0505" + "03000000" + "00000000"  // RTM_NEWADDR, REQUEST|ACK|REPLACE|CREATE
                + "02" + "18" + "00" + "00" + "07000000"  // ifaddrmsg: AF_INET, /24, no flags, universe, index 7
                + "0800" + "0200" + "c0000201"  // IFA_LOCAL 192.0.2.1
                + "0800" + "0100" + "c0000201")  // IFA_ADDRESS 192.0.2.1
        #expect(request.operation == "add address 192.0.2.1/24 to interface index 7")
    }

    @Test("RTM_NEWADDR IPv6: IFA_ADDRESS and IFA_F_NODAD in ifa_flags and IFA_FLAGS")
    func addIPv6Address() throws {
        let request = RouteNetlinkMessage.address(.add, try prefix("2001:db8:1::1/64"), interfaceIndex: 7, sequence: 4)
        #expect(
            hex(request.bytes)
                == "34000000" + "1400" + "0505" + "04000000" + "00000000"
                + "0a" + "40" + "02" + "00" + "07000000"  // AF_INET6, /64, IFA_F_NODAD
                + "1400" + "0100" + "20010db8000100000000000000000001"  // IFA_ADDRESS
                + "0800" + "0800" + "02000000")  // IFA_FLAGS IFA_F_NODAD
    }

    @Test("RTM_DELADDR IPv6: no CREATE/REPLACE, no flags")
    func deleteIPv6Address() throws {
        let request = RouteNetlinkMessage.address(
            .delete, try prefix("2001:db8:1::1/64"), interfaceIndex: 7, sequence: 5)
        #expect(
            hex(request.bytes)
                == "2c000000" + "1500" + "0500" + "05000000" + "00000000"
                + "0a" + "40" + "00" + "00" + "07000000"
                + "1400" + "0100" + "20010db8000100000000000000000001")
        #expect(request.operation == "delete address 2001:db8:1::1/64 from interface index 7")
    }

    @Test("RTM_NEWROUTE IPv4 device route: main table, static, scope link, unicast")
    func addIPv4Route() throws {
        let request = RouteNetlinkMessage.route(
            .add, try prefix("198.51.100.0/24"), interfaceIndex: 7, table: nil, metric: nil, sequence: 5)
        #expect(
            hex(request.bytes)
                == "2c000000" + "1800" + "0505" + "05000000" + "00000000"
                + "02" + "18" + "00" + "00" + "fe" + "04" + "fd" + "01" + "00000000"  // rtmsg
                + "0800" + "0100" + "c6336400"  // RTA_DST
                + "0800" + "0400" + "07000000")  // RTA_OIF
    }

    @Test("RTM_NEWROUTE IPv6 with a table above 255 and a metric")
    func addIPv6RouteInTable() throws {
        let request = RouteNetlinkMessage.route(
            .add, try prefix("2001:db8:2::/64"), interfaceIndex: 7, table: 1000, metric: 50, sequence: 6)
        #expect(
            hex(request.bytes)
                == "48000000" + "1800" + "0505" + "06000000" + "00000000"
                + "0a" + "40" + "00" + "00" + "00" + "04" + "00" + "01" + "00000000"  // RT_TABLE_UNSPEC, universe
                + "1400" + "0100" + "20010db8000200000000000000000000"  // RTA_DST
                + "0800" + "0400" + "07000000"  // RTA_OIF
                + "0800" + "0f00" + "e8030000"  // RTA_TABLE 1000
                + "0800" + "0600" + "32000000")  // RTA_PRIORITY 50
        #expect(request.operation == "add route 2001:db8:2::/64 via interface index 7, table 1000, metric 50")
    }

    @Test("RTM_DELROUTE: any scope and protocol, host bits cleared")
    func deleteIPv4Route() throws {
        let request = RouteNetlinkMessage.route(
            .delete, try prefix("198.51.100.7/24"), interfaceIndex: 7, table: 100, metric: nil, sequence: 7)
        #expect(
            hex(request.bytes)
                == "34000000" + "1900" + "0500" + "07000000" + "00000000"
                + "02" + "18" + "00" + "00" + "64" + "00" + "ff" + "01" + "00000000"
                + "0800" + "0100" + "c6336400"
                + "0800" + "0400" + "07000000"
                + "0800" + "0f00" + "64000000")
        #expect(request.operation == "delete route 198.51.100.0/24 via interface index 7, table 100")
    }

    @Test("RTM_GETROUTE for one IPv4 and one IPv6 host, as `ip route get` asks")
    func getRoute() throws {
        let v4 = RouteNetlinkMessage.getRoute(to: try #require(IPAddress("198.18.4.2")), sequence: 3)
        #expect(
            hex(v4.bytes)
                == "24000000" + "1a00" + "0500" + "03000000" + "00000000"
                + "02" + "20" + "00" + "00" + "00" + "00" + "00" + "00" + "00000000"
                + "0800" + "0100" + "c6120402")
        #expect(v4.operation == "look up the route to 198.18.4.2")
        let v6 = RouteNetlinkMessage.getRoute(to: try #require(IPAddress("fd00::7")), sequence: 4)
        #expect(
            hex(v6.bytes)
                == "30000000" + "1a00" + "0500" + "04000000" + "00000000"
                + "0a" + "80" + "00" + "00" + "00" + "00" + "00" + "00" + "00000000"
                + "1400" + "0100" + "fd000000000000000000000000000007")
    }

    @Test("RTM_GETROUTE with RTA_MARK: the route a packet with that firewall mark takes")
    func getRouteWithMark() throws {
        let request = RouteNetlinkMessage.getRoute(to: try #require(IPAddress("198.18.4.2")), mark: 7872, sequence: 3)
        #expect(
            hex(request.bytes)
                == "2c000000" + "1a00" + "0500" + "03000000" + "00000000"
                + "02" + "20" + "00" + "00" + "00" + "00" + "00" + "00" + "00000000"
                + "0800" + "0100" + "c6120402"
                + "0800" + "1000" + "c01e0000")  // RTA_MARK 16, 7872 = 0x1ec0
        #expect(request.operation == "look up the route to 198.18.4.2 with mark 7872")
    }

    @Test("RTM_NEWRULE 'not fwmark 7872 lookup 7872' and RTM_DELRULE 'lookup main suppress_prefixlength 0'")
    func rules() throws {
        let add = RouteNetlinkMessage.rule(
            .add, .init(ipv6: false, priority: 7871, table: 7872, firewallMark: 7872, invert: true), sequence: 5)
        #expect(
            hex(add.bytes)
                == "3c000000" + "2000" + "0506" + "05000000" + "00000000"  // RTM_NEWRULE, REQUEST|ACK|EXCL|CREATE
                // fib_rule_hdr: AF_INET, dst/src len, tos, table 0 (> 255: only FRA_TABLE), res1, res2,
                // FR_ACT_TO_TBL, FIB_RULE_INVERT
                + "02" + "00" + "00" + "00" + "00" + "00" + "00" + "01" + "02000000"
                + "0800" + "0600" + "bf1e0000"  // FRA_PRIORITY 7871
                + "0800" + "0f00" + "c01e0000"  // FRA_TABLE 7872
                + "0800" + "0a00" + "c01e0000"  // FRA_FWMARK 7872
                + "0800" + "1000" + "ffffffff")  // FRA_FWMASK all ones
        #expect(add.operation == "add rule -4 7871: not fwmark 7872 lookup 7872")
        let delete = RouteNetlinkMessage.rule(
            .delete, .init(ipv6: true, priority: 7870, table: 254, suppressPrefixLength: 0), sequence: 6)
        #expect(
            hex(delete.bytes)
                == "34000000" + "2100" + "0500" + "06000000" + "00000000"  // RTM_DELRULE, REQUEST|ACK
                + "0a" + "00" + "00" + "00" + "fe" + "00" + "00" + "01" + "00000000"  // AF_INET6, table main
                + "0800" + "0600" + "be1e0000"  // FRA_PRIORITY 7870
                + "0800" + "0f00" + "fe000000"  // FRA_TABLE 254
                + "0800" + "0e00" + "00000000")  // FRA_SUPPRESS_PREFIXLEN 0
        #expect(delete.operation == "delete rule -6 7870: lookup main suppress_prefixlength 0")
    }

    @Test("RTM_GETLINK by IFLA_IFNAME, padded to 4 octets")
    func getLink() throws {
        let request = try #require(RouteNetlinkMessage.getLink(named: "dummy0", sequence: 9))
        #expect(
            hex(request.bytes)
                == "2c000000" + "1200" + "0500" + "09000000" + "00000000"
                + "00000000" + "00000000" + "00000000" + "00000000"
                + "0b00" + "0300" + "64756d6d793000" + "00")  // "dummy0\0", one octet of padding
    }
}
#endif

@Suite("rtnetlink requests: invariants")
struct NetlinkRequestInvariantTests {
    @Test("every request's nlmsg_len is its length, a multiple of 4, and it parses back")
    func lengths() throws {
        let requests = [
            RouteNetlinkMessage.setLink(index: 1, up: true, mtu: 9000, sequence: 1),
            RouteNetlinkMessage.address(.add, try prefix("10.0.0.1/8"), interfaceIndex: 2, sequence: 2),
            RouteNetlinkMessage.address(.delete, try prefix("fd00::1/128"), interfaceIndex: 2, sequence: 3),
            RouteNetlinkMessage.route(.add, try prefix("0.0.0.0/0"), interfaceIndex: 2, table: 7, metric: 1, sequence: 4),
            RouteNetlinkMessage.route(.delete, try prefix("::/0"), interfaceIndex: 2, table: nil, metric: nil, sequence: 5),
            try #require(RouteNetlinkMessage.getLink(named: "a", sequence: 6)),
            try #require(RouteNetlinkMessage.getLink(named: "fifteen-chars-x", sequence: 7)),
        ]
        for request in requests {
            #expect(request.bytes.count % 4 == 0, "\(request.operation)")
            let declared = request.bytes.prefix(4).withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
            #expect(Int(declared) == request.bytes.count, "\(request.operation)")
            let parsed = try RouteNetlinkMessage.parse(request.bytes)
            #expect(parsed.count == 1)
            #expect(parsed.first?.sequence == request.sequence)
        }
    }

    @Test("impossible interface names are refused before encoding")
    func badNames() {
        for name in ["", "sixteen-chars-xx", "a/b", "a b", "a\u{0}b", "tab\tx"] {
            #expect(RouteNetlinkMessage.getLink(named: name, sequence: 1) == nil, "\(name.debugDescription)")
        }
    }

    @Test("network addresses clear host bits at every length")
    func networkAddress() throws {
        let cases: [(String, String)] = [
            ("198.51.100.7/24", "198.51.100.0"), ("198.51.100.7/32", "198.51.100.7"), ("198.51.100.7/0", "0.0.0.0"),
            ("10.255.255.255/9", "10.128.0.0"), ("2001:db8:2::1/64", "2001:db8:2::"),
            ("2001:db8:2::ffff/128", "2001:db8:2::ffff"), ("2001:db8::/0", "::"),
            ("2001:db8:1:2:ffff:ffff:ffff:ffff/65", "2001:db8:1:2:8000::"), ("2001:db8:ffff::/24", "2001:d00::"),
            ("2001:db8:ffff::/20", "2001::"),
        ]
        for (text, expected) in cases {
            #expect(RouteNetlinkMessage.networkAddress(of: try prefix(text)).description == expected, "\(text)")
        }
    }
}

@Suite("rtnetlink reply parsing")
struct NetlinkReplyParsingTests {
    @Test("NLMSG_ERROR with error 0 is an acknowledgement")
    func acknowledgement() throws {
        var reply = ReplyBuilder()
        reply.error(0, sequence: 42)
        let parsed = try RouteNetlinkMessage.parse(reply.bytes)
        #expect(parsed.count == 1)
        #expect(parsed.first?.sequence == 42)
        #expect(parsed.first?.content == .acknowledgement)
    }

    @Test("NLMSG_ERROR with a negative error is that errno, with the kernel's extended-ACK text")
    func refusal() throws {
        var reply = ReplyBuilder()
        reply.error(-ENODEV, sequence: 3, message: "Invalid prefix for given prefix length")
        let parsed = try RouteNetlinkMessage.parse(reply.bytes)
        #expect(parsed.first?.content == .error(errno: ENODEV, message: "Invalid prefix for given prefix length"))

        var plain = ReplyBuilder()
        plain.error(-EEXIST, sequence: 3)
        #expect(try RouteNetlinkMessage.parse(plain.bytes).first?.content == .error(errno: EEXIST, message: nil))
    }

    @Test("an uncapped error echoes the whole request before its attributes")
    func uncappedError() throws {
        let request = RouteNetlinkMessage.setLink(index: 7, up: true, mtu: 1400, sequence: 8)
        var reply = ReplyBuilder()
        let text = Array("MTU too large".utf8) + [0]
        let attribute = (4 + text.count + 3) & ~3
        reply.header(
            length: 16 + 4 + request.bytes.count + attribute, type: RouteNetlinkMessage.NLMSG_ERROR,
            flags: RouteNetlinkMessage.NLM_F_ACK_TLVS, sequence: 8)
        reply.integer(-EINVAL)
        reply.bytes.append(contentsOf: request.bytes)
        reply.integer(UInt16(4 + text.count))
        reply.integer(RouteNetlinkMessage.NLMSGERR_ATTR_MSG)
        reply.bytes.append(contentsOf: text)
        reply.pad()
        #expect(try RouteNetlinkMessage.parse(reply.bytes).first?.content == .error(errno: EINVAL, message: "MTU too large"))
    }

    @Test("several messages in one datagram, the first not a multiple of 4 long")
    func multipleMessages() throws {
        var reply = ReplyBuilder()
        reply.link(index: 42, sequence: 9)
        reply.error(0, sequence: 9)
        var done = ReplyBuilder()
        done.header(length: 20, type: RouteNetlinkMessage.NLMSG_DONE, flags: RouteNetlinkMessage.NLM_F_MULTI, sequence: 10)
        done.integer(Int32(0))
        let parsed = try RouteNetlinkMessage.parse(reply.bytes + done.bytes)
        #expect(parsed.map(\.content) == [.link(index: 42, flags: 1), .acknowledgement, .done])
        #expect(parsed.map(\.sequence) == [9, 9, 10])
    }

    @Test("an empty datagram has no messages; unknown types are kept as other")
    func emptyAndUnknown() throws {
        #expect(try RouteNetlinkMessage.parse([UInt8]()).isEmpty)
        var reply = ReplyBuilder()
        reply.header(length: 16, type: 0x7777, sequence: 1)
        #expect(try RouteNetlinkMessage.parse(reply.bytes).first?.content == .other)
        #expect(try RouteNetlinkMessage.parse(reply.bytes).first?.type == 0x7777)
    }

    @Test("RTM_NEWROUTE: interface, source and gateway are read; unknown attributes skipped")
    func routeAnswer() throws {
        func attribute(_ type: UInt16, _ payload: [UInt8], into reply: inout ReplyBuilder) {
            reply.integer(UInt16(4 + payload.count))
            reply.integer(type)
            reply.bytes += payload
            reply.pad()
        }
        var reply = ReplyBuilder()
        reply.header(length: 16 + 12 + 8 + 8 + 8 + 8 + 8 + 8, type: RouteNetlinkMessage.RTM_NEWROUTE, sequence: 6)
        reply.bytes += [2, 32, 0, 0, 254, 0, 0, 1]  // AF_INET, /32, main table, unicast
        reply.integer(UInt32(0))
        attribute(RouteNetlinkMessage.RTA_TABLE, [254, 0, 0, 0], into: &reply)
        attribute(RouteNetlinkMessage.RTA_DST, [198, 18, 4, 2], into: &reply)
        attribute(RouteNetlinkMessage.RTA_OIF, [7, 0, 0, 0], into: &reply)
        attribute(RouteNetlinkMessage.RTA_PREFSRC, [198, 18, 1, 2], into: &reply)
        attribute(RouteNetlinkMessage.RTA_GATEWAY, [198, 18, 1, 1], into: &reply)
        attribute(99, [1, 2, 3, 4], into: &reply)
        let parsed = try RouteNetlinkMessage.parse(reply.bytes)
        #expect(
            parsed.first?.content
                == .route(
                    RouteAnswer(
                        type: 1, destination: IPAddress("198.18.4.2"), outputInterface: 7,
                        preferredSource: IPAddress("198.18.1.2"), gateway: IPAddress("198.18.1.1"))))

        // A source of the wrong length for its family is no address, and an attribute that overruns
        // the message is malformed.
        var wrong = reply
        wrong.bytes[16 + 12 + 8 + 8 + 8] = 7  // RTA_PREFSRC claims 3 octets of payload
        guard case .route(let answer) = try RouteNetlinkMessage.parse(wrong.bytes).first?.content else {
            Issue.record("no route in the answer")
            return
        }
        #expect(answer.preferredSource == nil)
        #expect(answer.gateway == IPAddress("198.18.1.1"))
        var overrun = reply
        overrun.bytes[16 + 12 + 8 * 5] = 200  // the last attribute claims 200 octets
        #expect(throws: MalformedReply.self) { try RouteNetlinkMessage.parse(overrun.bytes) }
        var short = ReplyBuilder()
        short.header(length: 24, type: RouteNetlinkMessage.RTM_NEWROUTE, sequence: 6)
        short.bytes += [2, 32, 0, 0, 254, 0, 0, 1]
        #expect(throws: MalformedReply.self) { try RouteNetlinkMessage.parse(short.bytes) }
    }

    @Test("lengths that lie are malformed, not traps")
    func lyingLengths() {
        var zero = ReplyBuilder()
        zero.header(length: 0, type: RouteNetlinkMessage.NLMSG_ERROR, sequence: 1)  // would loop forever
        var short = ReplyBuilder()
        short.header(length: 15, type: RouteNetlinkMessage.NLMSG_ERROR, sequence: 1)
        var long = ReplyBuilder()
        long.header(length: 400, type: RouteNetlinkMessage.NLMSG_ERROR, sequence: 1)
        var huge = ReplyBuilder()
        huge.header(length: Int(UInt32.max), type: RouteNetlinkMessage.NLMSG_DONE, sequence: 1)
        var noCode = ReplyBuilder()
        noCode.header(length: 18, type: RouteNetlinkMessage.NLMSG_ERROR, sequence: 1)
        noCode.bytes += [0, 0]
        var shortLink = ReplyBuilder()
        shortLink.header(length: 20, type: RouteNetlinkMessage.RTM_NEWLINK, sequence: 1)
        shortLink.integer(UInt32(0))
        var minimum = ReplyBuilder()
        minimum.error(Int32.min, sequence: 1)  // negating it would trap
        var positive = ReplyBuilder()
        positive.error(5, sequence: 1)
        for (label, bytes) in [
            ("zero", zero.bytes), ("short", short.bytes), ("long", long.bytes), ("huge", huge.bytes),
            ("noCode", noCode.bytes), ("shortLink", shortLink.bytes), ("Int32.min", minimum.bytes),
            ("positive", positive.bytes), ("trailing", [UInt8](repeating: 0, count: 7)),
        ] {
            #expect(throws: MalformedReply.self, "\(label)") { try RouteNetlinkMessage.parse(bytes) }
        }
    }

    @Test("extended-ACK attributes that do not add up give no text, not a trap")
    func brokenExtendedAcknowledgement() throws {
        var reply = ReplyBuilder()
        reply.error(-ENOENT, sequence: 2, message: "x")
        // Claim a 200-octet attribute where 8 octets remain.
        reply.bytes[36] = 200
        #expect(try RouteNetlinkMessage.parse(reply.bytes).first?.content == .error(errno: ENOENT, message: nil))

        var uncapped = ReplyBuilder()
        uncapped.error(-ENOENT, sequence: 2, message: "x")
        // Clear NLM_F_CAPPED: the echoed header's length (40) now claims more octets than follow.
        withUnsafeBytes(of: RouteNetlinkMessage.NLM_F_ACK_TLVS) { flags in
            uncapped.bytes.replaceSubrange(6..<8, with: flags)
        }
        #expect(try RouteNetlinkMessage.parse(uncapped.bytes).first?.content == .error(errno: ENOENT, message: nil))
    }

    @Test("every truncation of a valid datagram parses or is malformed")
    func truncations() throws {
        var reply = ReplyBuilder()
        reply.link(index: 5, sequence: 1)
        reply.error(-ENOENT, sequence: 1, message: "No such thing")
        reply.error(0, sequence: 2)
        let bytes = reply.bytes
        #expect(try RouteNetlinkMessage.parse(bytes).count == 3)
        for length in 0..<bytes.count {
            _ = try? RouteNetlinkMessage.parse(bytes.prefix(length))
            _ = try? RouteNetlinkMessage.parse(bytes.dropFirst(length))
        }
    }

    @Test("random octets and random corruption never trap")
    func fuzz() {
        var generator = SplitMix64(state: 0x7E41_6E6C)
        var valid = ReplyBuilder()
        valid.link(index: 5, sequence: 1)
        valid.error(-ENODEV, sequence: 1, message: "gone")
        valid.error(0, sequence: 2)
        for _ in 0..<5_000 {
            var bytes = valid.bytes
            for _ in 0..<Int.random(in: 1...6, using: &generator) {
                let index = Int.random(in: 0..<bytes.count, using: &generator)
                bytes[index] = UInt8.random(in: 0...255, using: &generator)
            }
            _ = try? RouteNetlinkMessage.parse(bytes)
            let noise = (0..<Int.random(in: 0...96, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            _ = try? RouteNetlinkMessage.parse(noise)
        }
    }
}

@Suite("NetlinkError")
struct NetlinkErrorTests {
    @Test("not-found errnos are told apart for cleanup")
    func notFound() {
        for code in [ENOENT, ESRCH, EADDRNOTAVAIL, ENODEV] {
            #expect(NetlinkError.kernelRefused(operation: "delete", errno: code, message: nil).isNotFound)
        }
        #expect(!NetlinkError.kernelRefused(operation: "add", errno: EEXIST, message: nil).isNotFound)
        #expect(!NetlinkError.timedOut(operation: "add", milliseconds: 2000).isNotFound)
        #expect(!NetlinkError.systemCall(SystemCallError("socket", errno: ENOENT)).isNotFound)
    }

    @Test("descriptions name the operation, the errno text and the kernel's words")
    func descriptions() {
        let refused = NetlinkError.kernelRefused(
            operation: "add route 198.51.100.0/24 via interface index 7", errno: EINVAL, message: "Nexthop device is not up")
        let reason = "\(String(cString: strerror(EINVAL))) (errno \(EINVAL))"
        #expect(
            refused.description
                == "add route 198.51.100.0/24 via interface index 7: refused by the kernel: \(reason): Nexthop device is not up")
        #expect(NetlinkError.timedOut(operation: "set interface index 3 up", milliseconds: 2000).description
            == "set interface index 3 up: no answer from the kernel within 2000 ms")
    }
}
