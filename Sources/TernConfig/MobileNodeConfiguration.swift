public import TernDataChannel
public import TernProtocol

/// What `tern mn` runs with (YAML; see Configs/mn.yaml).
public struct MobileNodeConfiguration: Sendable, Equatable, CustomStringConvertible, CustomReflectable {
    /// `home-agent.address` or `home-agent.addresses`: the Home Agent's outer (underlay) addresses, most
    /// preferred first, at most one per family. The Mobile Node uses the first one it has a route to, so
    /// an HA with both lets the care-of address move between IPv4 and IPv6. Empty with `hac`: the HAC
    /// tells them.
    public var homeAgentAddresses: [IPAddress]
    /// `home-agent.port`, default 7872.
    public var homeAgentPort: UInt16
    /// `tunnel`: name (default `tern0`) and MTU; `addresses` stays empty.
    public var tunnel: TunnelSettings
    /// `tunnel.home-addresses`: at least one, or none with `hac` (the HAC leases them).
    public var homeAddresses: [IPAddress]
    /// `tunnel.routes`: prefixes sent into the tunnel, default none.
    public var routes: [IPPrefix]
    /// `tunnel.full-tunnel`, default false: route everything (0.0.0.0/0 and ::/0) into the tunnel through
    /// a routing table and policy rules of Tern's own, as wg-quick does; the tunnel's own datagrams carry
    /// a firewall mark that keeps them on the main table (docs/gateway.md).
    public var fullTunnel: Bool
    /// `tunnel.block-ipv6`, default true: with `full-tunnel`, send IPv6 into the tunnel even when the node
    /// has no IPv6 Home Address, so that no IPv6 leaves outside it. False leaves IPv6 to the main table
    /// then.
    public var blockIPv6: Bool
    /// `tunnel.dns`, default ``DNSMode/auto``: whether the node applies DNS servers while it runs
    /// (docs/dns.md).
    public var dns: DNSMode
    /// `tunnel.dns-servers`: the DNS servers to apply; when given they replace those the HAC names. Empty:
    /// the HAC's, if any.
    public var dnsServers: [IPAddress]
    /// `security-association`: `spi`, `suite`, `scope`, `keys` (manual keying); nil with `hac`.
    public var securityAssociation: SecurityAssociation?
    /// `hac`: bootstrap the SA, Home Addresses and Home Agent from a Home Agent Controller instead.
    public var controller: ControllerClientSettings?
    /// `keepalive`: seconds of idleness before a keepalive, default 25; 0 turns keepalives off.
    public var keepaliveInterval: Int
    /// `status-file`: where the daemon writes its counters, if anywhere.
    public var statusFile: String?
    /// `control-socket`: the root-only Unix socket `tern status` asks; nil: the default path.
    public var controlSocket: String?
    /// `state-directory`: where a static SA's sequence reservations and receive high-water mark
    /// persist (docs/tunnel.md, Restarts).
    public var stateDirectory: String = ConfigurationDefaults.stateDirectory
    /// `binding.lifetime`: the binding lifetime the Binding Updates ask for, in seconds (default 600).
    public var bindingLifetime: Int
    /// `metrics`: the Prometheus endpoint; nil (no `metrics:`) for none.
    public var metrics: MetricsSettings?
    /// `log-level`: nil leaves it to `--log-level`, else info.
    public var logLevel: LogLevel?

    public init(
        homeAgentAddresses: [IPAddress], homeAgentPort: UInt16 = ConfigurationDefaults.servicePort,
        tunnel: TunnelSettings = TunnelSettings(), homeAddresses: [IPAddress], routes: [IPPrefix] = [],
        securityAssociation: SecurityAssociation?, keepaliveInterval: Int = ConfigurationDefaults.keepaliveInterval,
        statusFile: String? = nil, bindingLifetime: Int = ConfigurationDefaults.bindingLifetime,
        controller: ControllerClientSettings? = nil, fullTunnel: Bool = false, blockIPv6: Bool = true,
        dns: DNSMode = .auto, dnsServers: [IPAddress] = []
    ) {
        self.dns = dns
        self.dnsServers = dnsServers
        self.controller = controller
        self.fullTunnel = fullTunnel
        self.blockIPv6 = blockIPv6
        self.homeAgentAddresses = homeAgentAddresses
        self.bindingLifetime = bindingLifetime
        self.homeAgentPort = homeAgentPort
        self.tunnel = tunnel
        self.homeAddresses = homeAddresses
        self.routes = routes
        self.securityAssociation = securityAssociation
        self.keepaliveInterval = keepaliveInterval
        self.statusFile = statusFile
    }

    public var description: String {
        "MobileNodeConfiguration(home agent \(homeAgentAddresses.map(\.description).joined(separator: ", ")) port \(homeAgentPort), tunnel \(tunnel.name) mtu "
            + "\(tunnel.mtu.map(String.init) ?? "auto"), home addresses \(homeAddresses.map(\.description).joined(separator: ", ")), "
            + "routes [\(routes.map(\.description).joined(separator: ", "))], full tunnel \(fullTunnel ? "on" : "off")"
            + "\(fullTunnel && !blockIPv6 ? " (IPv6 only with an IPv6 home address)" : ""), DNS \(dnsDescription), "
            + "\(securityAssociation.map(summary) ?? "SA from the HAC"), "
            + "keepalive \(keepaliveInterval) s, binding lifetime \(bindingLifetime) s, status file \(statusFile ?? "none"), "
            + "metrics \(metrics.map { "on \($0)" } ?? "off"))"
    }

    private var dnsDescription: String {
        switch dns {
        case .off: "off"
        case .auto: dnsServers.isEmpty ? "auto (the HAC's servers)" : "auto [\(dnsServers.map(\.description).joined(separator: ", "))]"
        }
    }

    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "homeAgentAddresses": homeAgentAddresses, "homeAgentPort": homeAgentPort, "tunnel": tunnel,
                "homeAddresses": homeAddresses, "routes": routes, "fullTunnel": fullTunnel, "blockIPv6": blockIPv6,
                "dns": dns, "dnsServers": dnsServers, "securityAssociation": securityAssociation.map(summary) as Any,
                "controller": controller as Any,
                "keepaliveInterval": keepaliveInterval, "bindingLifetime": bindingLifetime,
                "statusFile": statusFile as Any,
                "metrics": metrics as Any,
            ])
    }
}

extension MobileNodeConfiguration {
    static let fields = [
        "home-agent", "hac", "tunnel", "security-association", "keepalive", "binding", "status-file", "control-socket",
        "state-directory", "metrics", "log-level",
    ]
    static let homeAgentFields = ["address", "addresses", "port"]
    static let bindingFields = ["lifetime"]
    static let tunnelFields = [
        "name", "mtu", "home-addresses", "routes", "full-tunnel", "block-ipv6", "dns", "dns-servers", "offloads",
        "crypto-threads",
    ]
    static let associationFields = ["spi", "suite", "scope", "keys"]

    /// Reads the file at `path` and parses it, loading the key file with `KeyFile.load`.
    public static func load(path: String) throws(ConfigurationError) -> MobileNodeConfiguration {
        try parse(try ConfigFile.read(path: path), path: path, keyLoader: KeyFile.load)
    }

    /// Parses the text of a Mobile Node config; `path` names it in errors and anchors a relative key-file
    /// path. Pure apart from what `keyLoader` does.
    public static func parse(
        _ text: String, path: String, keyLoader: KeyLoader
    ) throws(ConfigurationError) -> MobileNodeConfiguration {
        let root = try composeDocument(text, path: path).mapping(allowed: fields)
        // With a HAC, the Home Agent, the Home Addresses and the SA come from it (RFC 6618 §5.6–5.7);
        // giving them here as well would leave two truths, so it is refused.
        let controller = try root.optional("hac")?.mapping(allowed: YAMLMapping.controllerClientFields)
            .controllerClientSettings()
        var homeAgentAddresses: [IPAddress] = []
        var homeAgentPort = ConfigurationDefaults.servicePort
        if controller == nil || root.optional("home-agent") != nil {
            if controller != nil, let field = root.optional("home-agent") {
                throw field.error("the home agent comes from the HAC (hac:); remove home-agent")
            }
            let homeAgent = try root.section("home-agent", allowed: homeAgentFields)
            homeAgentAddresses = try parseHomeAgentAddresses(homeAgent)
            homeAgentPort = try homeAgent.optional("port")?.port() ?? ConfigurationDefaults.servicePort
        }

        let tunnel = try root.section("tunnel", allowed: tunnelFields)
        let name = try tunnel.tunnelName()
        var homeAddresses: [IPAddress] = []
        if controller != nil, let field = tunnel.optional("home-addresses") {
            throw field.error("the home addresses come from the HAC (hac:); remove tunnel.home-addresses")
        }
        if controller == nil {
            let homeAddressesField = try tunnel.required("home-addresses")
            let homeAddressFields = try homeAddressesField.sequence("addresses", limit: ConfigurationLimits.maximumListLength)
            homeAddresses = try homeAddressesField.list(of: "addresses") { entry throws(ConfigurationError) in
                try entry.address()
            }
            for (index, address) in homeAddresses.enumerated() where address.isUnspecified {
                throw homeAddressFields[index].valueError("\(address) cannot be a home address")
            }
        }
        var routes: [IPPrefix] = []
        if let routesField = tunnel.optional("routes") {
            routes = try routesField.list(of: "prefixes", allowEmpty: true) { entry throws(ConfigurationError) in
                let route = try entry.prefix()
                guard route.network == route else {
                    throw entry.valueError("\(route) has host bits set; did you mean \(route.network)?")
                }
                return route
            }
        }
        let fullTunnel = try tunnel.optional("full-tunnel")?.boolean() ?? false
        let blockIPv6 = try tunnel.optional("block-ipv6")?.boolean() ?? true
        let dns = try tunnel.optional("dns")?.dnsMode() ?? .auto
        var dnsServers: [IPAddress] = []
        if let serversField = tunnel.optional("dns-servers") {
            if dns == .off {
                throw serversField.error("dns is off, so these servers would never be applied; remove dns-servers or set dns: auto")
            }
            let entries = try serversField.sequence("addresses", limit: ConfigurationLimits.maximumListLength)
            dnsServers = try serversField.list(of: "addresses") { entry throws(ConfigurationError) in try entry.address() }
            for (index, server) in dnsServers.enumerated() where server.isUnspecified {
                throw entries[index].valueError("\(server) cannot be a DNS server")
            }
        }
        // A HAC may lease an IPv6 Home Address, so the MTU must allow IPv6 then.
        let carriesIPv6 = controller != nil || homeAddresses.contains { !$0.isIPv4 } || routes.contains { !$0.address.isIPv4 }
        let mtu = try tunnel.optional("mtu")?.mtu(carriesIPv6: carriesIPv6)

        var association: SecurityAssociation?
        if controller != nil, let field = root.optional("security-association") {
            throw field.error("the SA comes from the HAC (hac:); remove security-association")
        }
        if controller == nil {
            association = try root.section("security-association", allowed: associationFields)
                .securityAssociation(keyLoader: keyLoader)
        }
        let keepalive =
            try root.optional("keepalive")?.integer("keepalive interval", in: ConfigurationLimits.keepaliveRange, unit: " seconds")
            ?? ConfigurationDefaults.keepaliveInterval
        let statusFile = try root.optional("status-file")?.filePath()
        var lifetime = ConfigurationDefaults.bindingLifetime
        if let bindingField = root.optional("binding") {
            let binding = try bindingField.mapping(allowed: bindingFields)
            lifetime =
                try binding.optional("lifetime")?.integer(
                    "binding lifetime", in: ConfigurationLimits.bindingLifetimeRange, unit: " seconds") ?? lifetime
        }
        let controlSocket = try root.optional("control-socket")?.filePath()
        var configuration = MobileNodeConfiguration(
            homeAgentAddresses: homeAgentAddresses, homeAgentPort: homeAgentPort,
            tunnel: TunnelSettings(
                name: name, mtu: mtu,
                offloads: try tunnel.optional("offloads")?.boolean() ?? ConfigurationDefaults.offloads,
                cryptoThreads: try tunnel.cryptoThreads()),
            homeAddresses: homeAddresses, routes: routes,
            securityAssociation: association, keepaliveInterval: keepalive, statusFile: statusFile,
            bindingLifetime: lifetime, controller: controller, fullTunnel: fullTunnel, blockIPv6: blockIPv6,
            dns: dns, dnsServers: dnsServers)
        configuration.controlSocket = controlSocket
        configuration.stateDirectory = try root.optional("state-directory")?.filePath() ?? ConfigurationDefaults.stateDirectory
        configuration.metrics = try root.metricsSettings(defaults: .mobileNodeDefault)
        configuration.logLevel = try root.optional("log-level")?.logLevel()
        return configuration
    }

    /// `home-agent.address` (one) or `home-agent.addresses` (a list, at most one per family), not both.
    private static func parseHomeAgentAddresses(_ homeAgent: YAMLMapping) throws(ConfigurationError) -> [IPAddress] {
        let single = homeAgent.optional("address")
        let list = homeAgent.optional("addresses")
        var fields: [YAMLField] = []
        var addresses: [IPAddress] = []
        switch (single, list) {
        case (let field?, nil):
            fields = [field]
            addresses = [try field.address()]
        case (nil, let field?):
            fields = try field.sequence("addresses", limit: ConfigurationLimits.maximumHomeAgentAddresses)
            addresses = try field.list(of: "addresses") { entry throws(ConfigurationError) in try entry.address() }
        case (_?, let field?):
            throw field.error("give either address or addresses, not both")
        case (nil, nil):
            _ = try homeAgent.required("address")
        }
        for (index, address) in addresses.enumerated() {
            if address.isUnspecified { throw fields[index].valueError("\(address) is not a Home Agent's address") }
            if addresses[..<index].contains(where: { $0.isIPv4 == address.isIPv4 }) {
                throw fields[index].valueError(
                    "only one \(address.isIPv4 ? "IPv4" : "IPv6") Home Agent address is supported")
            }
        }
        return addresses
    }
}

/// `tunnel.dns` of a Mobile Node.
public enum DNSMode: String, Hashable, Sendable {
    /// Apply the DNS servers (`dns-servers`, else the HAC's) through systemd-resolved or resolvconf when
    /// the node is up, and take them back when it stops.
    case auto
    /// Leave the system's DNS configuration alone.
    case off
}

extension YAMLField {
    /// `auto` or `off`.
    func dnsMode() throws(ConfigurationError) -> DNSMode {
        let text = try scalar("auto or off")
        guard let mode = DNSMode(rawValue: text) else { throw valueError("\(shown(text)) is not auto or off") }
        return mode
    }
}
