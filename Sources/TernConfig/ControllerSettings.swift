public import TernProtocol

/// `hac:` in the Home Agent's config: the co-located Home Agent Controller (DESIGN.md: deployment).
public struct ControllerServerSettings: Sendable, Hashable {
    /// `hac.listen`: TCP addresses, default every IPv4 and IPv6 address.
    public var listenAddresses: [IPAddress]
    /// `hac.port`: TCP port, default 7872 (DESIGN.md: HAC port).
    public var port: UInt16
    /// `hac.certificate`, `hac.private-key`: PEM files; the key root-only.
    public var certificate: String
    public var privateKey: String
    /// `hac.database`: the SQLite file, default /var/lib/tern/hac.sqlite.
    public var database: String
    /// `hac.home-address-pools`: one prefix per family the Home Addresses are leased from.
    public var homeAddressPools: [IPPrefix]
    /// `hac.home-agent-addresses`: what Mobile Nodes are told to reach (mip6-haa-ip4/ip6), one per family.
    public var homeAgentAddresses: [IPAddress]
    /// `hac.suites`: preference order; empty means the built-in default (no NULL encryption).
    public var suites: [Ciphersuite]
    /// `hac.scope`: the scope the HAC mandates; nil takes what the MN proposes.
    public var scope: SecurityAssociationScope?
    /// `hac.sa-validity`: seconds an issued SA is valid, default 86400.
    public var securityAssociationValidity: Int
    /// `hac.dns`: DNS servers reachable through the tunnel, told to the MN.
    public var dnsServers: [IPAddress]
    /// `hac.limits`: connection caps and deadlines under load (docs/hac.md, "Under attack").
    public var limits = Limits()

    /// `hac.limits: {connections, connections-per-source, first-record-timeout, handshake-timeout,
    /// exchange-timeout}`; the defaults are TernController's `ControllerLimits` defaults.
    public struct Limits: Sendable, Hashable {
        /// Connections open at once, all sources together.
        public var connections = 2048
        /// Connections open at once from one IPv4 address or IPv6 /64.
        public var connectionsPerSource = 32
        /// Seconds from accept to the first octets of the TLS handshake.
        public var firstRecordTimeout = 2
        /// Seconds from accept to the end of the TLS handshake.
        public var handshakeTimeout = 5
        /// Seconds from accept to the end of the exchange.
        public var exchangeTimeout = 10

        public init() {}

        public static let fields = [
            "connections", "connections-per-source", "first-record-timeout", "handshake-timeout", "exchange-timeout",
        ]
        /// Each connection holds a descriptor: the daemon raises its soft RLIMIT_NOFILE to the hard limit,
        /// and the cap stays below what a systemd unit's LimitNOFILE=65536 leaves.
        public static let connectionsRange = 16...60_000
        public static let connectionsPerSourceRange = 1...60_000
        public static let timeoutRange = 1...60
        public static let exchangeTimeoutRange = 1...300
    }

    public static let defaultDatabase = "/var/lib/tern/hac.sqlite"
    public static let defaultValidity = 86_400
    /// An SA valid for less than a minute would re-key faster than a handshake settles; a year is the
    /// longest a key should live without a new exchange.
    public static let validityRange = 60...(365 * 86_400)
}

/// `hac:` in the Mobile Node's config: where to bootstrap from (RFC 6618 §5).
public struct ControllerClientSettings: Sendable, Hashable, CustomStringConvertible {
    /// `hac.address`, `hac.port` (TCP, default 7872).
    public var address: IPAddress
    public var port: UInt16
    /// `hac.server-name`: the DNS name or address the certificate must carry; default `hac.address`.
    public var serverName: String
    /// `hac.identity`: this node's NAI.
    public var identity: String
    /// `hac.psk-file`: the key `tern users add` wrote (hex); root-only.
    public var pskFile: String
    /// `hac.ca-file` or `hac.pinned-certificate` (exactly one).
    public var caFile: String?
    public var pinnedCertificate: String?
    /// `hac.suites`: what the MN offers, in order; empty means the built-in default.
    public var suites: [Ciphersuite]

    public var description: String {
        "HAC \(address) port \(port) as \(serverName), identity \(identity), key file \(pskFile), "
            + (caFile.map { "CA \($0)" } ?? pinnedCertificate.map { "pinned \($0)" } ?? "no trust anchor")
    }
}

extension YAMLMapping {
    static let controllerServerFields = [
        "listen", "port", "certificate", "private-key", "database", "home-address-pools", "home-agent-addresses",
        "suites", "scope", "sa-validity", "dns", "limits",
    ]
    static let controllerClientFields = [
        "address", "port", "server-name", "identity", "psk-file", "ca-file", "pinned-certificate", "suites",
    ]

    func controllerServerSettings() throws(ConfigurationError) -> ControllerServerSettings {
        let listen = try optional("listen")?.list(of: "addresses") { (entry) throws(ConfigurationError) in try entry.address() }
        let poolsField = try required("home-address-pools")
        let pools = try poolsField.list(of: "prefixes") { (entry) throws(ConfigurationError) in try entry.prefix() }
        try oneOfEachFamily(pools.map(\.address), poolsField, what: "home address pool")
        let haField = try required("home-agent-addresses")
        let homeAgents = try haField.list(of: "addresses") { (entry) throws(ConfigurationError) in try entry.address() }
        try oneOfEachFamily(homeAgents, haField, what: "home agent address")
        return ControllerServerSettings(
            listenAddresses: listen ?? ConfigurationDefaults.listenAddresses,
            port: try optional("port")?.port() ?? ConfigurationDefaults.servicePort,
            certificate: try required("certificate").filePath(), privateKey: try required("private-key").filePath(),
            database: try optional("database")?.filePath() ?? ControllerServerSettings.defaultDatabase,
            homeAddressPools: pools, homeAgentAddresses: homeAgents, suites: try suites(),
            scope: try optional("scope")?.scope(),
            securityAssociationValidity: try optional("sa-validity")?.integer(
                "SA validity", in: ControllerServerSettings.validityRange, unit: " seconds")
                ?? ControllerServerSettings.defaultValidity,
            dnsServers: try optional("dns")?.list(of: "addresses", allowEmpty: true) { (entry) throws(ConfigurationError) in
                try entry.address()
            } ?? [],
            limits: try optional("limits").map { (field) throws(ConfigurationError) in try field.controllerLimits() }
                ?? ControllerServerSettings.Limits())
    }

    func controllerClientSettings() throws(ConfigurationError) -> ControllerClientSettings {
        let address = try required("address").address()
        let identityField = try required("identity")
        let identity = try identityField.scalar("a network access identifier")
        guard !identity.isEmpty, identity.utf8.count <= 253, identity.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw identityField.valueError("\(shown(identity)) is not a network access identifier (user@realm, RFC 4282)")
        }
        let ca = try optional("ca-file")?.filePath()
        let pinned = try optional("pinned-certificate")?.filePath()
        if (ca == nil) == (pinned == nil) {
            throw (optional("pinned-certificate") ?? field)
                .error("give exactly one of ca-file and pinned-certificate: the HAC's certificate must be verified")
        }
        return ControllerClientSettings(
            address: address, port: try optional("port")?.port() ?? ConfigurationDefaults.servicePort,
            serverName: try optional("server-name")?.scalar("a DNS name or address") ?? address.description,
            identity: identity, pskFile: try required("psk-file").filePath(), caFile: ca, pinnedCertificate: pinned,
            suites: try suites())
    }

    private func suites() throws(ConfigurationError) -> [Ciphersuite] {
        try optional("suites")?.list(of: "ciphersuites") { (entry) throws(ConfigurationError) in try entry.suite() } ?? []
    }

    private func oneOfEachFamily(_ addresses: [IPAddress], _ field: YAMLField, what: String) throws(ConfigurationError) {
        for (index, address) in addresses.enumerated()
        where addresses[..<index].contains(where: { $0.isIPv4 == address.isIPv4 }) {
            throw field.valueError("only one IPv\(address.isIPv4 ? 4 : 6) \(what) is supported")
        }
    }
}

extension YAMLField {
    func controllerLimits() throws(ConfigurationError) -> ControllerServerSettings.Limits {
        typealias Limits = ControllerServerSettings.Limits
        let mapping = try mapping(allowed: Limits.fields)
        var limits = Limits()
        limits.connections =
            try mapping.optional("connections")?.integer("connection limit", in: Limits.connectionsRange) ?? limits.connections
        limits.connectionsPerSource =
            try mapping.optional("connections-per-source")?.integer(
                "per-source connection limit", in: Limits.connectionsPerSourceRange)
            ?? limits.connectionsPerSource
        guard limits.connectionsPerSource <= limits.connections else {
            throw (mapping.optional("connections-per-source") ?? self)
                .valueError("connections-per-source (\(limits.connectionsPerSource)) is above connections (\(limits.connections))")
        }
        limits.firstRecordTimeout =
            try mapping.optional("first-record-timeout")?.integer("first-record timeout", in: Limits.timeoutRange, unit: " seconds")
            ?? limits.firstRecordTimeout
        limits.handshakeTimeout =
            try mapping.optional("handshake-timeout")?.integer("handshake timeout", in: Limits.timeoutRange, unit: " seconds")
            ?? limits.handshakeTimeout
        limits.exchangeTimeout =
            try mapping.optional("exchange-timeout")?.integer(
                "exchange timeout", in: Limits.exchangeTimeoutRange, unit: " seconds") ?? limits.exchangeTimeout
        guard limits.firstRecordTimeout <= limits.handshakeTimeout, limits.handshakeTimeout <= limits.exchangeTimeout else {
            throw valueError(
                "the timeouts must not decrease: first-record-timeout (\(limits.firstRecordTimeout)) ≤ handshake-timeout "
                    + "(\(limits.handshakeTimeout)) ≤ exchange-timeout (\(limits.exchangeTimeout))")
        }
        return limits
    }
}
