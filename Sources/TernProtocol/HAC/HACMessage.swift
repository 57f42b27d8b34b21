/// The typed parameters of one MN–HAC message (RFC 6618 §5.5–5.7), every one optional: which are
/// required depends on the message, and the state machines check that. `auth` is not here: it is
/// computed over the other headers' octets and appended last (``TVHeaderWriter/finished(auth:)``).
///
/// Parsing: unknown headers are ignored; a known header whose value does not parse is an error naming
/// the header and line. Serializing: canonical spelling (DESIGN.md, Spelling) in ``headerNames`` order.
public struct HACMessage: Sendable, Hashable {
    public var mnID: NetworkAccessIdentifier?
    public var authMethods: [HACAuthenticationMethod]?
    public var eapPayload: [UInt8]?
    public var mnRand: HACNonce?
    public var hacRand: HACNonce?
    public var scope: SecurityAssociationScope?
    public var suiteList: [Ciphersuite]?
    /// Suites in `mip6-suitelist` that parsed but are not implemented; kept only to report them.
    public var unsupportedSuiteCount = 0
    public var ciphersuite: Ciphersuite?
    public var spi: SecurityParameterIndex?
    public var mnToHAIntegrityKey: [UInt8]?
    public var haToMNIntegrityKey: [UInt8]?
    public var mnToHAEncryptionKey: [UInt8]?
    public var haToMNEncryptionKey: [UInt8]?
    public var validityEnd: HTTPDate?
    public var homeAgentIPv6: IPv6Address?
    public var homeAgentIPv4: IPv4Address?
    public var port: UInt16?
    public var homeAddressIPv6: IPv6Address?
    public var homeAddressIPv4: IPv4Address?
    public var homeNetworkPrefixIPv6: IPPrefix?
    public var homeNetworkPrefixIPv4: IPPrefix?
    public var dnsIPv6: [IPv6Address] = []
    public var dnsIPv4: [IPv4Address] = []
    public var retryAfter: HTTPDate?
    public var statusCode: HACStatusCode?

    public init() {}

    /// Header names in the order ``serializedHeaders()`` writes them: session and SA data first, then the
    /// nonces and status, as RFC 6618 §5.8 lists the final response.
    public static let headerNames = [
        "mn-id", "auth-method", "eap-payload", "mip6-sas", "mip6-suitelist", "mip6-ciphersuite", "mip6-spi",
        "mip6-mn-to-ha-ikey", "mip6-ha-to-mn-ikey", "mip6-mn-to-ha-ekey", "mip6-ha-to-mn-ekey",
        "mip6-sa-validity-end", "mip6-haa-ip6", "mip6-haa-ip4", "mip6-port", "mip6-ip6-hoa", "mip6-ip4-hoa",
        "mip6-ip6-hnp", "mip6-ip4-hnp", "dns-ip6", "dns-ip4", "mn-rand", "hac-rand", "retry-after", "status-code",
    ]

    /// Longest list `mip6-suitelist` may hold; there are eight suites, so this is generous.
    public static let maximumSuiteListCount = 32

    /// Types the headers of `block`.
    public init(_ block: TVHeaderBlock) throws(HACError) {
        for header in block.headers {
            try apply(header)
        }
    }

    /// Parses a Content: ``TVHeaderBlock`` then the typed values.
    public init(parsing content: some Collection<UInt8>) throws(HACError) {
        try self.init(TVHeaderBlock(parsing: content))
    }

    private mutating func apply(_ header: TVHeader) throws(HACError) {
        let v = header.value
        func bad(_ why: String) -> HACError { HACError(.invalidValue(why), header: header.name, line: header.line) }
        func key() throws(HACError) -> [UInt8] {
            guard let octets = HexEncoding.decode(v) else { throw bad("not an even number of hex digits") }
            return octets
        }
        func v6() throws(HACError) -> IPv6Address {
            guard let address = IPv6Address(v) else { throw bad("not an IPv6 address") }
            return address
        }
        func v4() throws(HACError) -> IPv4Address {
            guard let address = IPv4Address(v) else { throw bad("not a dotted-quad IPv4 address") }
            return address
        }
        func prefix(v6 family: Bool) throws(HACError) -> IPPrefix {
            guard v.contains("/"), let prefix = IPPrefix(v), prefix.address.isIPv4 != family else {
                throw bad(family ? "not an IPv6 prefix (address/length)" : "not an IPv4 subnet (address/length)")
            }
            return prefix
        }
        func date() throws(HACError) -> HTTPDate {
            guard let date = HTTPDate(parsing: v) else { throw bad("not an RFC 1123 date in GMT") }
            return date
        }
        func nonce() throws(HACError) -> HACNonce {
            guard let nonce = HACNonce(hex: v) else { throw bad("not 32 octets in hex") }
            return nonce
        }
        switch header.name {
        case "mn-id":
            guard let nai = NetworkAccessIdentifier(v) else { throw bad("not a network access identifier (RFC 4282)") }
            mnID = nai
        case "auth-method":
            guard let methods = HACAuthenticationMethod.parseList(v) else { throw bad("not a list of methods") }
            authMethods = methods
        case "eap-payload": eapPayload = try key()
        case "mn-rand": mnRand = try nonce()
        case "hac-rand": hacRand = try nonce()
        case "mip6-sas":
            guard v == "0" || v == "1", let s = SecurityAssociationScope(rawValue: v == "1" ? 1 : 0) else {
                throw bad("not 0 or 1")
            }
            scope = s
        case "mip6-suitelist":
            var suites: [Ciphersuite] = []
            var unsupported = 0
            // Ciphersuite.parseList fails on an unknown suite; a HAC must skip those instead (a newer MN may
            // offer more), so the list is walked here: `{..}` items separated by `,`, whitespace tolerated.
            var rest = Substring(v).trimmingASCIIWhitespace()
            guard !rest.isEmpty else { throw bad("empty suite list") }
            var count = 0
            while !rest.isEmpty {
                count += 1
                guard count <= Self.maximumSuiteListCount else { throw bad("more than \(Self.maximumSuiteListCount) suites") }
                guard let close = rest.firstIndex(of: "}") else { throw bad("suite '\(rest.prefix(32))' is not of the form {00,2F}") }
                do {
                    let suite = try Ciphersuite(parsing: rest[...close])
                    if !suites.contains(suite) { suites.append(suite) }
                } catch .unsupported {
                    unsupported += 1
                } catch {
                    throw bad(error.description)
                }
                rest = rest[rest.index(after: close)...].trimmingASCIIWhitespace()
                if rest.first == "," {
                    rest = rest.dropFirst().trimmingASCIIWhitespace()
                    guard !rest.isEmpty else { throw bad("trailing comma in suite list") }
                } else if !rest.isEmpty {
                    throw bad("suites must be separated by ','")
                }
            }
            suiteList = suites
            unsupportedSuiteCount = unsupported
        case "mip6-ciphersuite":
            do { ciphersuite = try Ciphersuite(parsing: v) } catch { throw bad(error.description) }
        case "mip6-spi":
            guard (1...10).contains(v.count), v.utf8.allSatisfy({ (0x30...0x39).contains($0) }), let value = UInt32(v),
                let index = SecurityParameterIndex(rawValue: value)
            else { throw bad("not a decimal SPI from 1 to \(SecurityParameterIndex.maximum)") }
            spi = index
        case "mip6-mn-to-ha-ikey": mnToHAIntegrityKey = try key()
        case "mip6-ha-to-mn-ikey": haToMNIntegrityKey = try key()
        case "mip6-mn-to-ha-ekey": mnToHAEncryptionKey = try key()
        case "mip6-ha-to-mn-ekey": haToMNEncryptionKey = try key()
        case "mip6-sa-validity-end": validityEnd = try date()
        case "retry-after": retryAfter = try date()
        case "mip6-haa-ip6": homeAgentIPv6 = try v6()
        case "mip6-haa-ip4": homeAgentIPv4 = try v4()
        case "mip6-port":
            guard (1...5).contains(v.count), v.utf8.allSatisfy({ (0x30...0x39).contains($0) }), let p = UInt16(v), p != 0
            else { throw bad("not a port from 1 to 65535") }
            port = p
        case "mip6-ip6-hoa": homeAddressIPv6 = try v6()
        case "mip6-ip4-hoa": homeAddressIPv4 = try v4()
        case "mip6-ip6-hnp": homeNetworkPrefixIPv6 = try prefix(v6: true)
        case "mip6-ip4-hnp": homeNetworkPrefixIPv4 = try prefix(v6: false)
        case "dns-ip6": dnsIPv6.append(try v6())
        case "dns-ip4": dnsIPv4.append(try v4())
        case "status-code":
            guard let code = HACStatusCode(parsing: v) else { throw bad("not one of the status codes of RFC 6618 §5.5.4") }
            statusCode = code
        default:
            break  // Unknown headers are ignored (still covered by auth).
        }
    }

    /// The header lines in canonical spelling, in ``headerNames`` order, without `auth` or the empty line.
    public func serializedHeaders() -> TVHeaderWriter {
        var w = TVHeaderWriter()
        if let mnID { w.append("mn-id", mnID.text) }
        if let authMethods { w.append("auth-method", HACAuthenticationMethod.formatList(authMethods)) }
        if let eapPayload { w.append("eap-payload", HexEncoding.encode(eapPayload)) }
        if let scope { w.append("mip6-sas", String(scope.rawValue)) }
        if let suiteList { w.append("mip6-suitelist", Ciphersuite.formatList(suiteList)) }
        if let ciphersuite { w.append("mip6-ciphersuite", ciphersuite.description) }
        if let spi { w.append("mip6-spi", String(spi.rawValue)) }
        if let mnToHAIntegrityKey { w.append("mip6-mn-to-ha-ikey", HexEncoding.encode(mnToHAIntegrityKey)) }
        if let haToMNIntegrityKey { w.append("mip6-ha-to-mn-ikey", HexEncoding.encode(haToMNIntegrityKey)) }
        if let mnToHAEncryptionKey { w.append("mip6-mn-to-ha-ekey", HexEncoding.encode(mnToHAEncryptionKey)) }
        if let haToMNEncryptionKey { w.append("mip6-ha-to-mn-ekey", HexEncoding.encode(haToMNEncryptionKey)) }
        if let validityEnd { w.append("mip6-sa-validity-end", validityEnd.description) }
        if let homeAgentIPv6 { w.append("mip6-haa-ip6", homeAgentIPv6.uncompressedDescription) }
        if let homeAgentIPv4 { w.append("mip6-haa-ip4", homeAgentIPv4.description) }
        if let port { w.append("mip6-port", String(port)) }
        if let homeAddressIPv6 { w.append("mip6-ip6-hoa", homeAddressIPv6.uncompressedDescription) }
        if let homeAddressIPv4 { w.append("mip6-ip4-hoa", homeAddressIPv4.description) }
        if let homeNetworkPrefixIPv6, case .v6(let a) = homeNetworkPrefixIPv6.address {
            w.append("mip6-ip6-hnp", "\(a.uncompressedDescription)/\(homeNetworkPrefixIPv6.length)")
        }
        if let homeNetworkPrefixIPv4, homeNetworkPrefixIPv4.address.isIPv4 {
            w.append("mip6-ip4-hnp", homeNetworkPrefixIPv4.description)
        }
        for address in dnsIPv6.prefix(TVHeaderBlock.maximumRepetitions) { w.append("dns-ip6", address.uncompressedDescription) }
        for address in dnsIPv4.prefix(TVHeaderBlock.maximumRepetitions) { w.append("dns-ip4", address.description) }
        if let mnRand { w.append("mn-rand", mnRand.description) }
        if let hacRand { w.append("hac-rand", hacRand.description) }
        if let retryAfter { w.append("retry-after", retryAfter.description) }
        if let statusCode { w.append("status-code", String(statusCode.rawValue)) }
        return w
    }
}
