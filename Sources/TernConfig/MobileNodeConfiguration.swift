public import TernDataChannel
public import TernProtocol

/// What `tern mn` runs with (YAML; see Configs/mn.yaml).
public struct MobileNodeConfiguration: Sendable, CustomStringConvertible, CustomReflectable {
    /// `home-agent.address`: the Home Agent's outer (underlay) address.
    public var homeAgentAddress: IPAddress
    /// `home-agent.port`, default 7872.
    public var homeAgentPort: UInt16
    /// `tunnel`: name (default `tern0`) and MTU; `addresses` stays empty.
    public var tunnel: TunnelSettings
    /// `tunnel.home-addresses`: at least one.
    public var homeAddresses: [IPAddress]
    /// `tunnel.routes`: prefixes sent into the tunnel, default none.
    public var routes: [IPPrefix]
    /// `security-association`: `spi`, `suite`, `scope`, `keys`.
    public var securityAssociation: SecurityAssociation
    /// `keepalive`: seconds of idleness before a keepalive, default 25; 0 turns keepalives off.
    public var keepaliveInterval: Int
    /// `status-file`: where the daemon writes its counters, if anywhere.
    public var statusFile: String?

    public init(
        homeAgentAddress: IPAddress, homeAgentPort: UInt16 = ConfigurationDefaults.servicePort, tunnel: TunnelSettings = TunnelSettings(),
        homeAddresses: [IPAddress], routes: [IPPrefix] = [], securityAssociation: SecurityAssociation,
        keepaliveInterval: Int = ConfigurationDefaults.keepaliveInterval, statusFile: String? = nil
    ) {
        self.homeAgentAddress = homeAgentAddress
        self.homeAgentPort = homeAgentPort
        self.tunnel = tunnel
        self.homeAddresses = homeAddresses
        self.routes = routes
        self.securityAssociation = securityAssociation
        self.keepaliveInterval = keepaliveInterval
        self.statusFile = statusFile
    }

    public var description: String {
        "MobileNodeConfiguration(home agent \(homeAgentAddress) port \(homeAgentPort), tunnel \(tunnel.name) mtu "
            + "\(tunnel.mtu.map(String.init) ?? "auto"), home addresses \(homeAddresses.map(\.description).joined(separator: ", ")), "
            + "routes [\(routes.map(\.description).joined(separator: ", "))], \(summary(securityAssociation)), "
            + "keepalive \(keepaliveInterval) s, status file \(statusFile ?? "none"))"
    }

    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "homeAgentAddress": homeAgentAddress, "homeAgentPort": homeAgentPort, "tunnel": tunnel,
                "homeAddresses": homeAddresses, "routes": routes, "securityAssociation": summary(securityAssociation),
                "keepaliveInterval": keepaliveInterval, "statusFile": statusFile as Any,
            ])
    }
}

extension MobileNodeConfiguration {
    static let fields = ["home-agent", "tunnel", "security-association", "keepalive", "status-file"]
    static let homeAgentFields = ["address", "port"]
    static let tunnelFields = ["name", "mtu", "home-addresses", "routes"]
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

        let homeAgent = try root.section("home-agent", allowed: homeAgentFields)
        let addressField = try homeAgent.required("address")
        let homeAgentAddress = try addressField.address()
        if homeAgentAddress.isUnspecified {
            throw addressField.valueError("\(homeAgentAddress) is not a Home Agent's address")
        }
        let homeAgentPort = try homeAgent.optional("port")?.port() ?? ConfigurationDefaults.servicePort

        let tunnel = try root.section("tunnel", allowed: tunnelFields)
        let name = try tunnel.tunnelName()
        let homeAddressesField = try tunnel.required("home-addresses")
        let homeAddressFields = try homeAddressesField.sequence("addresses", limit: ConfigurationLimits.maximumListLength)
        let homeAddresses = try homeAddressesField.list(of: "addresses") { entry throws(ConfigurationError) in
            try entry.address()
        }
        for (index, address) in homeAddresses.enumerated() where address.isUnspecified {
            throw homeAddressFields[index].valueError("\(address) cannot be a home address")
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
        let carriesIPv6 = homeAddresses.contains { !$0.isIPv4 } || routes.contains { !$0.address.isIPv4 }
        let mtu = try tunnel.optional("mtu")?.mtu(carriesIPv6: carriesIPv6)

        let association = try root.section("security-association", allowed: associationFields)
            .securityAssociation(keyLoader: keyLoader)
        let keepalive =
            try root.optional("keepalive")?.integer("keepalive interval", in: ConfigurationLimits.keepaliveRange, unit: " seconds")
            ?? ConfigurationDefaults.keepaliveInterval
        let statusFile = try root.optional("status-file")?.filePath()
        return MobileNodeConfiguration(
            homeAgentAddress: homeAgentAddress, homeAgentPort: homeAgentPort, tunnel: TunnelSettings(name: name, mtu: mtu),
            homeAddresses: homeAddresses, routes: routes, securityAssociation: association, keepaliveInterval: keepalive,
            statusFile: statusFile)
    }
}
