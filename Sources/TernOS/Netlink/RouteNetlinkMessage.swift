public import TernProtocol

/// rtnetlink (rtnetlink(7), netlink(7)) requests and replies as octets: pure encoding and decoding,
/// no descriptors. ``RouteNetlink`` sends what this builds and hands it what the kernel answers.
///
/// Layout (linux/netlink.h, linux/rtnetlink.h, linux/if_link.h, linux/if_addr.h): every message is a
/// 16-octet `nlmsghdr` (length, type, flags, sequence, port id), a family header (`ifinfomsg`,
/// `ifaddrmsg` or `rtmsg`), then attributes (`rtattr`: 2-octet length, 2-octet type, payload), each
/// padded to 4 octets. Header fields and integer attributes are in the host's byte order, as the kernel
/// expects; addresses are in network order.
public enum RouteNetlinkMessage {
    // MARK: Netlink (linux/netlink.h)

    /// `NETLINK_ROUTE`, the protocol of the `AF_NETLINK` socket.
    public static let NETLINK_ROUTE: Int32 = 0
    /// `SOL_NETLINK`, the level of netlink socket options.
    public static let SOL_NETLINK: Int32 = 270
    /// `NETLINK_CAP_ACK`: error replies carry only the request's header, not the whole request.
    public static let NETLINK_CAP_ACK: Int32 = 10
    /// `NETLINK_EXT_ACK`: error replies may carry the kernel's explanation (`NLMSGERR_ATTR_MSG`).
    public static let NETLINK_EXT_ACK: Int32 = 11

    public static let NLMSG_NOOP: UInt16 = 1
    public static let NLMSG_ERROR: UInt16 = 2
    public static let NLMSG_DONE: UInt16 = 3
    public static let NLMSG_OVERRUN: UInt16 = 4

    public static let NLM_F_REQUEST: UInt16 = 0x01
    public static let NLM_F_MULTI: UInt16 = 0x02
    public static let NLM_F_ACK: UInt16 = 0x04
    public static let NLM_F_REPLACE: UInt16 = 0x100
    public static let NLM_F_EXCL: UInt16 = 0x200
    public static let NLM_F_CREATE: UInt16 = 0x400
    /// In an NLMSG_ERROR: the request's payload was left out (NETLINK_CAP_ACK).
    public static let NLM_F_CAPPED: UInt16 = 0x100
    /// In an NLMSG_ERROR: extended-ACK attributes follow (NETLINK_EXT_ACK).
    public static let NLM_F_ACK_TLVS: UInt16 = 0x200

    /// `NLMSGERR_ATTR_MSG`: a NUL-terminated explanation from the kernel.
    public static let NLMSGERR_ATTR_MSG: UInt16 = 1

    // MARK: rtnetlink message types (linux/rtnetlink.h)

    public static let RTM_NEWLINK: UInt16 = 16
    public static let RTM_DELLINK: UInt16 = 17
    public static let RTM_GETLINK: UInt16 = 18
    public static let RTM_NEWADDR: UInt16 = 20
    public static let RTM_DELADDR: UInt16 = 21
    public static let RTM_NEWROUTE: UInt16 = 24
    public static let RTM_DELROUTE: UInt16 = 25

    // MARK: Links (linux/if_link.h, linux/if.h)

    public static let IFLA_IFNAME: UInt16 = 3
    public static let IFLA_MTU: UInt16 = 4
    public static let IFF_UP: UInt32 = 0x1

    // MARK: Addresses (linux/if_addr.h)

    public static let IFA_ADDRESS: UInt16 = 1
    public static let IFA_LOCAL: UInt16 = 2
    public static let IFA_FLAGS: UInt16 = 8
    /// No duplicate address detection: an IPv6 address is usable at once instead of "tentative".
    public static let IFA_F_NODAD: UInt32 = 0x02

    // MARK: Routes (linux/rtnetlink.h)

    public static let RTA_DST: UInt16 = 1
    public static let RTA_OIF: UInt16 = 4
    public static let RTA_GATEWAY: UInt16 = 5
    public static let RTA_PRIORITY: UInt16 = 6
    public static let RTA_PREFSRC: UInt16 = 7
    public static let RTA_TABLE: UInt16 = 15
    /// The firewall mark a lookup is made for (`ip route get ... mark X`).
    public static let RTA_MARK: UInt16 = 16
    public static let RTM_GETROUTE: UInt16 = 26

    // MARK: Policy routing rules (linux/fib_rules.h)

    public static let RTM_NEWRULE: UInt16 = 32
    public static let RTM_DELRULE: UInt16 = 33
    public static let FRA_PRIORITY: UInt16 = 6
    public static let FRA_FWMARK: UInt16 = 10
    public static let FRA_SUPPRESS_PREFIXLEN: UInt16 = 14
    public static let FRA_TABLE: UInt16 = 15
    public static let FRA_FWMASK: UInt16 = 16
    /// `fib_rule_hdr.action`: look the packet up in a table.
    public static let FR_ACT_TO_TBL: UInt8 = 1
    /// `fib_rule_hdr.flags`: the selector is negated (`ip rule add not ...`).
    public static let FIB_RULE_INVERT: UInt32 = 0x2

    // MARK: Multicast groups (linux/rtnetlink.h RTMGRP_*): what a route monitor listens to

    public static let RTMGRP_LINK: UInt32 = 0x1
    public static let RTMGRP_IPV4_IFADDR: UInt32 = 0x10
    public static let RTMGRP_IPV4_ROUTE: UInt32 = 0x40
    public static let RTMGRP_IPV6_IFADDR: UInt32 = 0x100
    public static let RTMGRP_IPV6_ROUTE: UInt32 = 0x400

    public static let RT_TABLE_UNSPEC: UInt8 = 0
    public static let RT_TABLE_MAIN: UInt8 = 254
    public static let RTPROT_UNSPEC: UInt8 = 0
    public static let RTPROT_STATIC: UInt8 = 4
    public static let RT_SCOPE_UNIVERSE: UInt8 = 0
    public static let RT_SCOPE_LINK: UInt8 = 253
    /// In a delete: match a route of any scope.
    public static let RT_SCOPE_NOWHERE: UInt8 = 255
    public static let RTN_UNICAST: UInt8 = 1

    // MARK: Address families (linux/socket.h)

    public static let AF_UNSPEC: UInt8 = 0
    public static let AF_INET: UInt8 = 2
    public static let AF_INET6: UInt8 = 10

    // MARK: Sizes

    /// `sizeof(struct nlmsghdr)`.
    public static let headerLength = 16
    /// `sizeof(struct ifinfomsg)`.
    public static let interfaceInfoLength = 16
    /// `sizeof(struct ifaddrmsg)`.
    public static let addressMessageLength = 8
    /// `sizeof(struct rtmsg)`.
    public static let routeMessageLength = 12
    /// `sizeof(struct fib_rule_hdr)`.
    public static let ruleMessageLength = 12
    /// `sizeof(struct rtattr)`.
    public static let attributeHeaderLength = 4
    /// `sizeof(struct nlmsgerr)` up to the echoed header: the error code.
    public static let errorCodeLength = 4
    /// Netlink aligns messages and attributes to 4 octets (NLMSG_ALIGNTO, RTA_ALIGNTO).
    public static let alignment = 4
    /// Linux interface names are at most 15 octets (IFNAMSIZ − 1).
    public static let maximumInterfaceNameLength = 15

    /// Rounds `length` up to the netlink alignment (NLMSG_ALIGN / RTA_ALIGN).
    @inline(__always)
    public static func aligned(_ length: Int) -> Int { (length + alignment - 1) & ~(alignment - 1) }

    /// Whether a request creates (and replaces) or deletes.
    public enum Action: Sendable {
        case add, delete
    }

    // MARK: Requests

    /// RTM_NEWLINK on an existing link: sets or clears IFF_UP (`ifi_change` = IFF_UP) and, when given,
    /// the MTU (IFLA_MTU).
    public static func setLink(index: UInt32, up: Bool, mtu: UInt32?, sequence: UInt32) -> RouteNetlinkRequest {
        var writer = Writer(type: RTM_NEWLINK, flags: NLM_F_REQUEST | NLM_F_ACK, sequence: sequence)
        // struct ifinfomsg
        writer.append(AF_UNSPEC)  // ifi_family
        writer.append(UInt8(0))  // __ifi_pad
        writer.append(UInt16(0))  // ifi_type
        writer.append(index)  // ifi_index (int)
        writer.append(up ? IFF_UP : 0)  // ifi_flags
        writer.append(IFF_UP)  // ifi_change
        if let mtu { writer.appendAttribute(IFLA_MTU, mtu) }
        var operation = "set interface index \(index) \(up ? "up" : "down")"
        if let mtu { operation += ", MTU \(mtu)" }
        return writer.finish(operation: operation)
    }

    /// RTM_GETLINK for the interface called `name` (IFLA_IFNAME): the kernel answers with one
    /// RTM_NEWLINK carrying its index. Nil when `name` cannot be an interface name (empty, longer than
    /// 15 octets, or containing NUL, '/' or whitespace).
    public static func getLink(named name: String, sequence: UInt32) -> RouteNetlinkRequest? {
        let octets = Array(name.utf8)
        guard !octets.isEmpty, octets.count <= maximumInterfaceNameLength,
            !octets.contains(where: { $0 == 0 || $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: " ") || $0 == 9 || $0 == 10 })
        else { return nil }
        var writer = Writer(type: RTM_GETLINK, flags: NLM_F_REQUEST | NLM_F_ACK, sequence: sequence)
        writer.append(AF_UNSPEC)
        writer.append(UInt8(0))
        writer.append(UInt16(0))
        writer.append(UInt32(0))  // ifi_index 0: look up by name
        writer.append(UInt32(0))
        writer.append(UInt32(0))
        writer.appendAttribute(IFLA_IFNAME, octets + [0])
        return writer.finish(operation: "look up interface '\(name)'")
    }

    /// RTM_NEWADDR (created or replaced: NLM_F_CREATE | NLM_F_REPLACE) or RTM_DELADDR for `prefix` (the
    /// address and its prefix length) on interface `interfaceIndex`.
    ///
    /// IPv4 carries IFA_LOCAL and IFA_ADDRESS (both the address, as `ip addr add` sends them); IPv6
    /// carries IFA_ADDRESS and, when adding, IFA_F_NODAD both in `ifa_flags` and in IFA_FLAGS, so the
    /// address is usable at once rather than tentative.
    public static func address(
        _ action: Action, _ prefix: IPPrefix, interfaceIndex: UInt32, sequence: UInt32
    ) -> RouteNetlinkRequest {
        let type = action == .add ? RTM_NEWADDR : RTM_DELADDR
        var flags = NLM_F_REQUEST | NLM_F_ACK
        if action == .add { flags |= NLM_F_CREATE | NLM_F_REPLACE }
        var writer = Writer(type: type, flags: flags, sequence: sequence)
        let noDAD = action == .add && !prefix.address.isIPv4
        // struct ifaddrmsg
        writer.append(family(of: prefix.address))  // ifa_family
        writer.append(UInt8(truncatingIfNeeded: prefix.length))  // ifa_prefixlen
        writer.append(noDAD ? UInt8(IFA_F_NODAD) : 0)  // ifa_flags
        writer.append(RT_SCOPE_UNIVERSE)  // ifa_scope
        writer.append(interfaceIndex)  // ifa_index
        switch prefix.address {
        case .v4(let address):
            writer.appendAttribute(IFA_LOCAL, address.octets)
            writer.appendAttribute(IFA_ADDRESS, address.octets)
        case .v6(let address):
            writer.appendAttribute(IFA_ADDRESS, address.octets)
            if noDAD { writer.appendAttribute(IFA_FLAGS, IFA_F_NODAD) }
        }
        let verb = action == .add ? "add address \(prefix) to" : "delete address \(prefix) from"
        return writer.finish(operation: "\(verb) interface index \(interfaceIndex)")
    }

    /// RTM_NEWROUTE (NLM_F_CREATE | NLM_F_REPLACE) or RTM_DELROUTE for a device route to `destination`
    /// out of interface `interfaceIndex` (RTA_OIF): type unicast, protocol RTPROT_STATIC, scope link for
    /// IPv4 (universe for IPv6, as `ip route` does). Host bits of `destination` beyond its length are
    /// cleared (the kernel refuses them for IPv4).
    ///
    /// - Parameters:
    ///   - table: the routing table; nil is the main table. Ids up to 255 go in `rtm_table` too, larger
    ///     ones only in RTA_TABLE.
    ///   - metric: RTA_PRIORITY; nil leaves the kernel's default (and, in a delete, matches the first).
    ///
    /// A delete matches any scope (RT_SCOPE_NOWHERE) and any protocol.
    public static func route(
        _ action: Action, _ destination: IPPrefix, interfaceIndex: UInt32, table: UInt32?, metric: UInt32?,
        sequence: UInt32
    ) -> RouteNetlinkRequest {
        let type = action == .add ? RTM_NEWROUTE : RTM_DELROUTE
        var flags = NLM_F_REQUEST | NLM_F_ACK
        if action == .add { flags |= NLM_F_CREATE | NLM_F_REPLACE }
        var writer = Writer(type: type, flags: flags, sequence: sequence)
        let tableField: UInt8 =
            if let table { table <= UInt32(UInt8.max) ? UInt8(table) : RT_TABLE_UNSPEC } else { RT_TABLE_MAIN }
        let scope: UInt8 =
            if action == .delete { RT_SCOPE_NOWHERE } else if destination.address.isIPv4 { RT_SCOPE_LINK } else {
                RT_SCOPE_UNIVERSE
            }
        // struct rtmsg
        writer.append(family(of: destination.address))  // rtm_family
        writer.append(UInt8(truncatingIfNeeded: destination.length))  // rtm_dst_len
        writer.append(UInt8(0))  // rtm_src_len
        writer.append(UInt8(0))  // rtm_tos
        writer.append(tableField)  // rtm_table
        writer.append(action == .add ? RTPROT_STATIC : RTPROT_UNSPEC)  // rtm_protocol
        writer.append(scope)  // rtm_scope
        writer.append(RTN_UNICAST)  // rtm_type
        writer.append(UInt32(0))  // rtm_flags
        writer.appendAttribute(RTA_DST, networkOctets(of: destination))
        writer.appendAttribute(RTA_OIF, interfaceIndex)
        if let table { writer.appendAttribute(RTA_TABLE, table) }
        if let metric { writer.appendAttribute(RTA_PRIORITY, metric) }
        let network = IPPrefix(address: networkAddress(of: destination), length: destination.length) ?? destination
        var operation = "\(action == .add ? "add" : "delete") route \(network) via interface index \(interfaceIndex)"
        if let table { operation += ", table \(table)" }
        if let metric { operation += ", metric \(metric)" }
        return writer.finish(operation: operation)
    }

    /// RTM_GETROUTE for one destination address (as `ip route get`): the kernel answers with one
    /// RTM_NEWROUTE naming the output interface, the gateway if any, and the source address it would
    /// choose (RTA_PREFSRC), or refuses with ENETUNREACH / EHOSTUNREACH when there is no route.
    ///
    /// With `mark`, the lookup is made for a packet carrying that firewall mark (RTA_MARK), as the
    /// kernel routes a datagram from a socket with SO_MARK: policy rules that select by mark apply.
    public static func getRoute(to destination: IPAddress, mark: UInt32? = nil, sequence: UInt32) -> RouteNetlinkRequest {
        var writer = Writer(type: RTM_GETROUTE, flags: NLM_F_REQUEST | NLM_F_ACK, sequence: sequence)
        // struct rtmsg
        writer.append(family(of: destination))  // rtm_family
        writer.append(UInt8(destination.bitWidth))  // rtm_dst_len: a host
        writer.append(UInt8(0))  // rtm_src_len
        writer.append(UInt8(0))  // rtm_tos
        writer.append(RT_TABLE_UNSPEC)  // rtm_table
        writer.append(RTPROT_UNSPEC)  // rtm_protocol
        writer.append(RT_SCOPE_UNIVERSE)  // rtm_scope
        writer.append(UInt8(0))  // rtm_type
        writer.append(UInt32(0))  // rtm_flags
        writer.appendAttribute(RTA_DST, octets(of: destination))
        if let mark { writer.appendAttribute(RTA_MARK, mark) }
        return writer.finish(operation: "look up the route to \(destination)" + (mark.map { " with mark \($0)" } ?? ""))
    }

    /// A policy routing rule (`ip rule`) that sends packets to a table: what ``rule(_:_:sequence:)``
    /// encodes.
    public struct Rule: Sendable, Hashable, CustomStringConvertible {
        /// IPv4 or IPv6 (rules are per family).
        public var ipv6: Bool
        /// FRA_PRIORITY: rules are tried in increasing priority; 0 is `local`, 32766 `main`.
        public var priority: UInt32
        /// FRA_TABLE: where matching packets are looked up.
        public var table: UInt32
        /// FRA_FWMARK and FRA_FWMASK (all ones): select packets by firewall mark.
        public var firewallMark: UInt32?
        /// FIB_RULE_INVERT: select the packets the selector does *not* match (`not fwmark X`).
        public var invert: Bool
        /// FRA_SUPPRESS_PREFIXLEN: ignore routes of this prefix length or shorter found in `table`
        /// (0: ignore the default route), so the lookup falls through to the next rule.
        public var suppressPrefixLength: UInt32?

        public init(
            ipv6: Bool, priority: UInt32, table: UInt32, firewallMark: UInt32? = nil, invert: Bool = false,
            suppressPrefixLength: UInt32? = nil
        ) {
            self.ipv6 = ipv6
            self.priority = priority
            self.table = table
            self.firewallMark = firewallMark
            self.invert = invert
            self.suppressPrefixLength = suppressPrefixLength
        }

        /// As `ip rule` prints it.
        public var description: String {
            var text = "\(ipv6 ? "-6" : "-4") \(priority): "
            if let firewallMark { text += (invert ? "not " : "") + "fwmark \(firewallMark) " } else if invert { text += "not " }
            text += "lookup \(table == UInt32(RT_TABLE_MAIN) ? "main" : String(table))"
            if let suppressPrefixLength { text += " suppress_prefixlength \(suppressPrefixLength)" }
            return text
        }
    }

    /// RTM_NEWRULE (NLM_F_CREATE | NLM_F_EXCL: an identical rule already there is refused with EEXIST, as
    /// `ip rule add` does) or RTM_DELRULE for `rule`. A delete matches the rule with the same priority,
    /// table and selectors.
    public static func rule(_ action: Action, _ rule: Rule, sequence: UInt32) -> RouteNetlinkRequest {
        let type = action == .add ? RTM_NEWRULE : RTM_DELRULE
        var flags = NLM_F_REQUEST | NLM_F_ACK
        if action == .add { flags |= NLM_F_CREATE | NLM_F_EXCL }
        var writer = Writer(type: type, flags: flags, sequence: sequence)
        // struct fib_rule_hdr
        writer.append(rule.ipv6 ? AF_INET6 : AF_INET)  // family
        writer.append(UInt8(0))  // dst_len
        writer.append(UInt8(0))  // src_len
        writer.append(UInt8(0))  // tos
        writer.append(rule.table <= UInt32(UInt8.max) ? UInt8(rule.table) : RT_TABLE_UNSPEC)  // table
        writer.append(UInt8(0))  // res1
        writer.append(UInt8(0))  // res2
        writer.append(FR_ACT_TO_TBL)  // action
        writer.append(rule.invert ? FIB_RULE_INVERT : 0)  // flags
        writer.appendAttribute(FRA_PRIORITY, rule.priority)
        writer.appendAttribute(FRA_TABLE, rule.table)
        if let mark = rule.firewallMark {
            writer.appendAttribute(FRA_FWMARK, mark)
            writer.appendAttribute(FRA_FWMASK, UInt32.max)
        }
        if let length = rule.suppressPrefixLength { writer.appendAttribute(FRA_SUPPRESS_PREFIXLEN, length) }
        return writer.finish(operation: "\(action == .add ? "add" : "delete") rule \(rule)")
    }

    /// The prefix's address with every bit past its length cleared.
    public static func networkAddress(of prefix: IPPrefix) -> IPAddress {
        switch prefix.address {
        case .v4(let address):
            let mask: UInt32 = prefix.length <= 0 ? 0 : prefix.length >= 32 ? ~0 : ~UInt32(0) << UInt32(32 - prefix.length)
            return .v4(IPv4Address(rawValue: address.rawValue & mask))
        case .v6(let address):
            let length = prefix.length
            let highMask: UInt64 = length <= 0 ? 0 : length >= 64 ? ~0 : ~UInt64(0) << UInt64(64 - length)
            let lowMask: UInt64 = length <= 64 ? 0 : length >= 128 ? ~0 : ~UInt64(0) << UInt64(128 - length)
            return .v6(IPv6Address(high: address.high & highMask, low: address.low & lowMask))
        }
    }

    private static func networkOctets(of prefix: IPPrefix) -> [UInt8] { octets(of: networkAddress(of: prefix)) }

    private static func octets(of address: IPAddress) -> [UInt8] {
        switch address {
        case .v4(let address): address.octets
        case .v6(let address): address.octets
        }
    }

    private static func family(of address: IPAddress) -> UInt8 { address.isIPv4 ? AF_INET : AF_INET6 }

    /// Appends fields in host byte order and patches `nlmsg_len` at the end.
    private struct Writer {
        var bytes: [UInt8] = []
        let sequence: UInt32

        init(type: UInt16, flags: UInt16, sequence: UInt32) {
            self.sequence = sequence
            bytes.reserveCapacity(64)
            append(UInt32(0))  // nlmsg_len, patched by finish
            append(type)  // nlmsg_type
            append(flags)  // nlmsg_flags
            append(sequence)  // nlmsg_seq
            append(UInt32(0))  // nlmsg_pid: 0 addresses the kernel
        }

        mutating func append<Value: FixedWidthInteger>(_ value: Value) {
            withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
        }

        mutating func padToAlignment() {
            while bytes.count % RouteNetlinkMessage.alignment != 0 { bytes.append(0) }
        }

        mutating func appendAttribute(_ type: UInt16, _ payload: [UInt8]) {
            append(UInt16(truncatingIfNeeded: RouteNetlinkMessage.attributeHeaderLength + payload.count))  // rta_len
            append(type)  // rta_type
            bytes.append(contentsOf: payload)
            padToAlignment()
        }

        mutating func appendAttribute(_ type: UInt16, _ value: UInt32) {
            withUnsafeBytes(of: value) { appendAttribute(type, Array($0)) }
        }

        consuming func finish(operation: String) -> RouteNetlinkRequest {
            padToAlignment()
            let length = UInt32(truncatingIfNeeded: bytes.count)
            withUnsafeBytes(of: length) { raw in
                for (index, octet) in raw.enumerated() { bytes[index] = octet }
            }
            return RouteNetlinkRequest(bytes: bytes, sequence: sequence, operation: operation)
        }
    }

    // MARK: Replies

    /// Splits one datagram from the kernel into its messages (several may share a datagram).
    ///
    /// Every length is checked before it is used: a header shorter than 16 octets, a message that claims
    /// more octets than remain, or an NLMSG_ERROR too short for its error code is reported as
    /// ``MalformedReply``, never a trap.
    public static func parse(_ datagram: some Collection<UInt8>) throws(MalformedReply) -> [RouteNetlinkReply] {
        let bytes = Array(datagram)[...]
        var replies: [RouteNetlinkReply] = []
        var offset = 0
        while offset < bytes.count {
            let remaining = bytes.count - offset
            guard remaining >= headerLength else {
                throw MalformedReply("\(remaining) trailing octets at offset \(offset), fewer than a 16-octet nlmsghdr")
            }
            let length = Int(load(UInt32.self, bytes, at: offset))
            guard length >= headerLength else {
                throw MalformedReply("nlmsg_len \(length) at offset \(offset) is shorter than the 16-octet header")
            }
            guard length <= remaining else {
                throw MalformedReply("nlmsg_len \(length) at offset \(offset) exceeds the \(remaining) octets left")
            }
            let type = load(UInt16.self, bytes, at: offset + 4)
            let flags = load(UInt16.self, bytes, at: offset + 6)
            let sequence = load(UInt32.self, bytes, at: offset + 8)
            let portID = load(UInt32.self, bytes, at: offset + 12)
            let payload = bytes[(offset + headerLength)..<(offset + length)]
            let content = try parseContent(type: type, flags: flags, payload: payload, offset: offset)
            replies.append(
                RouteNetlinkReply(type: type, flags: flags, sequence: sequence, portID: portID, content: content))
            // The last message need not be padded to the alignment.
            offset += min(aligned(length), remaining)
        }
        return replies
    }

    private static func parseContent(
        type: UInt16, flags: UInt16, payload: ArraySlice<UInt8>, offset: Int
    ) throws(MalformedReply) -> RouteNetlinkReply.Content {
        switch type {
        case NLMSG_ERROR:
            guard payload.count >= errorCodeLength else {
                throw MalformedReply("NLMSG_ERROR at offset \(offset) has \(payload.count) octets, fewer than its error code")
            }
            let code = load(Int32.self, payload, at: payload.startIndex)
            if code == 0 { return .acknowledgement }
            guard code < 0, code != Int32.min else {
                throw MalformedReply("NLMSG_ERROR at offset \(offset) carries error \(code), not a negative errno")
            }
            return .error(errno: -code, message: extendedAcknowledgementMessage(flags: flags, payload: payload))
        case NLMSG_DONE:
            return .done
        case NLMSG_NOOP:
            return .noop
        case NLMSG_OVERRUN:
            return .overrun
        case RTM_NEWLINK:
            guard payload.count >= interfaceInfoLength else {
                throw MalformedReply("RTM_NEWLINK at offset \(offset) has \(payload.count) octets, fewer than an ifinfomsg")
            }
            let index = load(Int32.self, payload, at: payload.startIndex + 4)
            let linkFlags = load(UInt32.self, payload, at: payload.startIndex + 8)
            return .link(index: UInt32(bitPattern: index), flags: linkFlags)
        case RTM_NEWROUTE:
            return .route(try parseRoute(payload, offset: offset))
        default:
            return .other
        }
    }

    /// An RTM_NEWROUTE's rtmsg and the attributes a route lookup needs; other attributes are skipped.
    private static func parseRoute(_ payload: ArraySlice<UInt8>, offset: Int) throws(MalformedReply) -> RouteAnswer {
        guard payload.count >= routeMessageLength else {
            throw MalformedReply("RTM_NEWROUTE at offset \(offset) has \(payload.count) octets, fewer than an rtmsg")
        }
        let family = payload[payload.startIndex]
        var answer = RouteAnswer(type: payload[payload.startIndex + 7])
        var position = payload.startIndex + routeMessageLength
        while position <= payload.endIndex - attributeHeaderLength {
            let length = Int(load(UInt16.self, payload, at: position))
            let type = load(UInt16.self, payload, at: position + 2)
            guard length >= attributeHeaderLength, length <= payload.endIndex - position else {
                throw MalformedReply("RTM_NEWROUTE at offset \(offset): attribute \(type) claims \(length) octets")
            }
            let value = payload[(position + attributeHeaderLength)..<(position + length)]
            switch type {
            case RTA_OIF where value.count == 4:
                answer.outputInterface = load(UInt32.self, value, at: value.startIndex)
            case RTA_PREFSRC:
                answer.preferredSource = address(family: family, value)
            case RTA_GATEWAY:
                answer.gateway = address(family: family, value)
            case RTA_DST:
                answer.destination = address(family: family, value)
            default:
                break
            }
            position += aligned(length)
        }
        return answer
    }

    /// An address attribute of `family`; nil when its length does not match the family.
    private static func address(family: UInt8, _ value: ArraySlice<UInt8>) -> IPAddress? {
        switch (family, value.count) {
        case (AF_INET, 4):
            let octets = Array(value)
            return .v4(IPv4Address(octets[0], octets[1], octets[2], octets[3]))
        case (AF_INET6, 16):
            return IPv6Address(octets: value).map { .v6($0) }
        default:
            return nil
        }
    }

    /// The kernel's NLMSGERR_ATTR_MSG text, when the error carries extended-ACK attributes.
    /// Anything that does not add up yields nil rather than a guess.
    private static func extendedAcknowledgementMessage(flags: UInt16, payload: ArraySlice<UInt8>) -> String? {
        guard flags & NLM_F_ACK_TLVS != 0 else { return nil }
        let echoedHeader = payload.startIndex + errorCodeLength
        guard payload.endIndex - echoedHeader >= headerLength else { return nil }
        // Capped: only the request's header is echoed; otherwise the whole request.
        let echoedLength = flags & NLM_F_CAPPED != 0 ? headerLength : Int(load(UInt32.self, payload, at: echoedHeader))
        guard echoedLength >= headerLength else { return nil }
        var offset = echoedHeader + aligned(echoedLength)
        while offset <= payload.endIndex - attributeHeaderLength {
            let length = Int(load(UInt16.self, payload, at: offset))
            let type = load(UInt16.self, payload, at: offset + 2)
            guard length >= attributeHeaderLength, length <= payload.endIndex - offset else { return nil }
            if type & 0x3FFF == NLMSGERR_ATTR_MSG {  // without NLA_F_NESTED / NLA_F_NET_BYTEORDER
                let text = payload[(offset + attributeHeaderLength)..<(offset + length)].prefix { $0 != 0 }
                return text.isEmpty ? nil : String(decoding: text, as: UTF8.self)
            }
            offset += aligned(length)
        }
        return nil
    }

    /// The host-order integer whose first octet is `bytes[index]`; the caller has checked that all of it
    /// lies inside `bytes`.
    @inline(__always)
    private static func load<Value: FixedWidthInteger>(_: Value.Type, _ bytes: ArraySlice<UInt8>, at index: Int) -> Value {
        var value = Value.zero
        withUnsafeMutableBytes(of: &value) { raw in
            for position in 0..<raw.count { raw[position] = bytes[index + position] }
        }
        return value
    }
}

/// An encoded request, ready for `send`, with the sequence number its ACK will carry and a
/// description of what it asks, for errors.
public struct RouteNetlinkRequest: Sendable, Hashable {
    public let bytes: [UInt8]
    public let sequence: UInt32
    /// What the request does, e.g. `add address 192.0.2.1/24 to interface index 7`.
    public let operation: String
}

/// One message of a kernel reply.
public struct RouteNetlinkReply: Sendable, Hashable {
    /// What a reply message says.
    public enum Content: Sendable, Hashable {
        /// NLMSG_ERROR with error 0: the request was carried out.
        case acknowledgement
        /// NLMSG_ERROR with a negative error: refused with `errno`, with the kernel's explanation when it
        /// gave one (extended ACK).
        case error(errno: Int32, message: String?)
        /// NLMSG_DONE: the end of a multipart reply.
        case done
        case noop
        /// NLMSG_OVERRUN: data was lost.
        case overrun
        /// RTM_NEWLINK: a link's index and `ifi_flags`.
        case link(index: UInt32, flags: UInt32)
        /// RTM_NEWROUTE: a route, as the answer to a lookup.
        case route(RouteAnswer)
        /// Another message type, kept as `type` only.
        case other
    }

    public let type: UInt16
    public let flags: UInt16
    public let sequence: UInt32
    public let portID: UInt32
    public let content: Content
}

/// A reply from the kernel that does not parse; `reason` says where and why.
public struct MalformedReply: Error, Sendable, Hashable, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { "malformed netlink reply: \(reason)" }
}

/// What the kernel said about a route (RTM_NEWROUTE): for a lookup, where a packet to the destination
/// would leave and from which source address.
public struct RouteAnswer: Sendable, Hashable {
    /// `rtm_type`: RTN_UNICAST (1) for a usable route; RTN_UNREACHABLE, RTN_BLACKHOLE … otherwise.
    public var type: UInt8
    public var destination: IPAddress?
    /// RTA_OIF.
    public var outputInterface: UInt32?
    /// RTA_PREFSRC: the source address the kernel would choose.
    public var preferredSource: IPAddress?
    /// RTA_GATEWAY: the next hop, when not on-link.
    public var gateway: IPAddress?

    public init(
        type: UInt8, destination: IPAddress? = nil, outputInterface: UInt32? = nil, preferredSource: IPAddress? = nil,
        gateway: IPAddress? = nil
    ) {
        self.type = type
        self.destination = destination
        self.outputInterface = outputInterface
        self.preferredSource = preferredSource
        self.gateway = gateway
    }
}
