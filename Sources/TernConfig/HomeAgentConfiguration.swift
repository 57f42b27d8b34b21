public import TernDataChannel
public import TernProtocol

/// What `tern ha` runs with (YAML; see Configs/ha.yaml).
public struct HomeAgentConfiguration: Sendable, Equatable, CustomStringConvertible {
    /// `listen.port`, default 7872.
    public var listenPort: UInt16
    /// `listen.addresses`, default `0.0.0.0` and `::`; at most one of each family.
    public var listenAddresses: [IPAddress]
    /// `tunnel`: name, MTU and the Home Agent's own addresses on it (at least one).
    public var tunnel: TunnelSettings
    /// `mobile-nodes`: at least one; names, SPIs and Home Addresses unique across them.
    public var mobileNodes: [MobileNodeEntry]
    /// `status-file`: where the daemon writes its counters, if anywhere.
    public var statusFile: String?
    /// `control-socket`: the root-only Unix socket `tern status` asks; nil: the default path.
    public var controlSocket: String?
    /// `state-directory`: where the static SAs' sequence reservations and receive high-water marks
    /// persist (docs/tunnel.md, Restarts).
    public var stateDirectory: String = ConfigurationDefaults.stateDirectory
    /// `binding.maximum-lifetime`: the longest binding lifetime granted, in seconds (default 600).
    public var maximumBindingLifetime: Int
    /// `binding.nat-keepalive`: the keepalive interval a Mobile Node behind a NAT is told to keep, in
    /// seconds (default 25, DESIGN.md).
    public var natKeepalive: Int
    /// `hac`: the co-located Home Agent Controller, if this HA runs one.
    public var controller: ControllerServerSettings?
    /// `gateway`: what the Home Agent changes on the system to forward the Mobile Nodes' traffic.
    public var gateway: GatewaySettings
    /// `metrics`: the Prometheus endpoint; nil (no `metrics:`) for none.
    public var metrics: MetricsSettings?
    /// `log-level`: nil leaves it to `--log-level`, else info.
    public var logLevel: LogLevel?

    public init(
        listenPort: UInt16 = ConfigurationDefaults.servicePort, listenAddresses: [IPAddress] = ConfigurationDefaults.listenAddresses,
        tunnel: TunnelSettings, mobileNodes: [MobileNodeEntry], statusFile: String? = nil,
        maximumBindingLifetime: Int = ConfigurationDefaults.bindingLifetime,
        natKeepalive: Int = ConfigurationDefaults.natKeepalive, controller: ControllerServerSettings? = nil,
        gateway: GatewaySettings = GatewaySettings()
    ) {
        self.controller = controller
        self.gateway = gateway
        self.listenPort = listenPort
        self.listenAddresses = listenAddresses
        self.tunnel = tunnel
        self.mobileNodes = mobileNodes
        self.statusFile = statusFile
        self.maximumBindingLifetime = maximumBindingLifetime
        self.natKeepalive = natKeepalive
    }

    public var description: String {
        "HomeAgentConfiguration(listen \(listenAddresses.map(\.description).joined(separator: ", ")) port \(listenPort), "
            + "tunnel \(tunnel.name) mtu \(tunnel.mtu.map(String.init) ?? "auto") addresses "
            + "\(tunnel.addresses.map(\.description).joined(separator: ", ")), "
            + "mobile nodes [\(mobileNodes.map(\.description).joined(separator: "; "))], "
            + "status file \(statusFile ?? "none"), binding lifetime ≤ \(maximumBindingLifetime) s, "
            + "NAT keepalive \(natKeepalive) s, \(gateway), metrics \(metrics.map { "on \($0)" } ?? "off"))"
    }
}

/// One Mobile Node a Home Agent serves.
public struct MobileNodeEntry: Sendable, Equatable, CustomStringConvertible, CustomReflectable {
    /// `name`: 1–64 of `A-Z a-z 0-9 . _ -`, for logs and the status file.
    public var name: String
    /// Built from `spi`, `suite` (default `{13,01}`), `scope` (default 1) and the key file `keys`.
    public var securityAssociation: SecurityAssociation
    /// `home-addresses`: at least one.
    public var homeAddresses: [IPAddress]

    public init(name: String, securityAssociation: SecurityAssociation, homeAddresses: [IPAddress]) {
        self.name = name
        self.securityAssociation = securityAssociation
        self.homeAddresses = homeAddresses
    }

    public var description: String {
        "\(name): \(summary(securityAssociation)), home addresses \(homeAddresses.map(\.description).joined(separator: ", "))"
    }

    public var customMirror: Mirror {
        Mirror(
            self,
            children: ["name": name, "securityAssociation": summary(securityAssociation), "homeAddresses": homeAddresses])
    }
}

extension HomeAgentConfiguration {
    static let fields = [
        "listen", "tunnel", "mobile-nodes", "hac", "binding", "status-file", "control-socket", "state-directory", "gateway", "metrics", "log-level",
    ]
    static let gatewayFields = ["forwarding", "masquerade"]
    static let bindingFields = ["maximum-lifetime", "nat-keepalive"]
    static let listenFields = ["port", "addresses"]
    static let tunnelFields = ["name", "mtu", "addresses", "offloads", "crypto-threads"]
    static let mobileNodeFields = ["name", "spi", "suite", "scope", "keys", "home-addresses"]

    /// Reads the file at `path` and parses it, loading key files with `KeyFile.load`.
    public static func load(path: String) throws(ConfigurationError) -> HomeAgentConfiguration {
        try parse(try ConfigFile.read(path: path), path: path, keyLoader: KeyFile.load)
    }

    /// Parses the text of a Home Agent config; `path` names it in errors and anchors relative key-file
    /// paths. Pure apart from what `keyLoader` does.
    public static func parse(
        _ text: String, path: String, keyLoader: KeyLoader
    ) throws(ConfigurationError) -> HomeAgentConfiguration {
        let root = try composeDocument(text, path: path).mapping(allowed: fields)

        var listenPort = ConfigurationDefaults.servicePort
        var listenAddresses = ConfigurationDefaults.listenAddresses
        if let listenField = root.optional("listen") {
            let listen = try listenField.mapping(allowed: listenFields)
            if let port = listen.optional("port") { listenPort = try port.port() }
            if let addressesField = listen.optional("addresses") {
                let entries = try addressesField.sequence("addresses", limit: ConfigurationLimits.maximumListLength)
                listenAddresses = try addressesField.list(of: "addresses") { entry throws(ConfigurationError) in
                    try entry.address()
                }
                // The data plane keeps one socket per family.
                for (index, address) in listenAddresses.enumerated() {
                    if let other = listenAddresses[..<index].firstIndex(where: { $0.isIPv4 == address.isIPv4 }) {
                        throw entries[index].valueError(
                            "only one \(address.isIPv4 ? "IPv4" : "IPv6") listen address is supported; entry [\(other)] is one already")
                    }
                }
            }
        }

        let tunnelMapping = try root.section("tunnel", allowed: tunnelFields)
        let tunnelName = try tunnelMapping.tunnelName()
        let tunnelAddressesField = try tunnelMapping.required("addresses")
        let tunnelAddresses = try tunnelAddressesField.list(of: "prefixes") { entry throws(ConfigurationError) in
            try entry.prefix()
        }

        let controller = try root.optional("hac")?.mapping(allowed: YAMLMapping.controllerServerFields)
            .controllerServerSettings()
        // Mobile Nodes come from the config (manual keying), from the HAC, or both.
        let nodesField = controller == nil ? try root.required("mobile-nodes") : root.optional("mobile-nodes")
        let nodeFields = try nodesField?.sequence("mobile nodes", limit: ConfigurationLimits.maximumMobileNodes) ?? []
        if let nodesField, nodeFields.isEmpty, controller == nil {
            throw nodesField.valueError("at least one mobile node is required")
        }
        var nodes: [MobileNodeEntry] = []
        var owners: [IPAddress: Int] = [:]
        for (index, nodeField) in nodeFields.enumerated() {
            let node = try nodeField.mapping(allowed: mobileNodeFields)
            let nameField = try node.required("name")
            let name = try nameField.scalar("a name")
            guard (1...ConfigurationLimits.maximumNameLength).contains(name.count), name.allSatisfy(isNameCharacter) else {
                throw nameField.valueError(
                    "\(shown(name)) is not a valid name (1–\(ConfigurationLimits.maximumNameLength) of A–Z, a–z, 0–9, '.', '_', '-')")
            }
            if let other = nodes.firstIndex(where: { $0.name == name }) {
                throw nameField.valueError("\(name) is already the name of mobile-nodes[\(other)]")
            }
            let spiField = try node.required("spi")
            let spi = try spiField.securityParameterIndex()
            if let other = nodes.firstIndex(where: { $0.securityAssociation.securityParameterIndex == spi }) {
                throw spiField.valueError("SPI \(spi.rawValue) is already used by mobile-nodes[\(other)] (\(nodes[other].name))")
            }
            let homeAddressesField = try node.required("home-addresses")
            let homeAddressFields = try homeAddressesField.sequence("addresses", limit: ConfigurationLimits.maximumListLength)
            let homeAddresses = try homeAddressesField.list(of: "addresses") { entry throws(ConfigurationError) in
                try entry.address()
            }
            for (addressIndex, address) in homeAddresses.enumerated() {
                let entry = homeAddressFields[addressIndex]
                if address.isUnspecified { throw entry.valueError("\(address) cannot be a home address") }
                if let other = owners[address] {
                    throw entry.valueError(
                        "\(address) is already a home address of mobile-nodes[\(other)] (\(nodes[other].name))")
                }
                if let own = tunnelAddresses.firstIndex(where: { $0.address == address }) {
                    throw entry.valueError("\(address) is the home agent's own address (tunnel.addresses[\(own)])")
                }
            }
            let association = try node.securityAssociation(keyLoader: keyLoader)
            for address in homeAddresses { owners[address] = index }
            nodes.append(MobileNodeEntry(name: name, securityAssociation: association, homeAddresses: homeAddresses))
        }

        let carriesIPv6 = tunnelAddresses.contains { !$0.address.isIPv4 } || owners.keys.contains { !$0.isIPv4 }
        let mtu = try tunnelMapping.optional("mtu")?.mtu(carriesIPv6: carriesIPv6)
        let statusFile = try root.optional("status-file")?.filePath()
        var maximumLifetime = ConfigurationDefaults.bindingLifetime
        var natKeepalive = ConfigurationDefaults.natKeepalive
        if let bindingField = root.optional("binding") {
            let binding = try bindingField.mapping(allowed: bindingFields)
            maximumLifetime =
                try binding.optional("maximum-lifetime")?.integer(
                    "maximum binding lifetime", in: ConfigurationLimits.bindingLifetimeRange, unit: " seconds")
                ?? maximumLifetime
            natKeepalive =
                try binding.optional("nat-keepalive")?.integer(
                    "NAT keepalive", in: ConfigurationLimits.natKeepaliveRange, unit: " seconds") ?? natKeepalive
        }
        var gateway = GatewaySettings()
        if let gatewayField = root.optional("gateway") {
            let section = try gatewayField.mapping(allowed: gatewayFields)
            gateway.forwarding = try section.optional("forwarding")?.boolean() ?? gateway.forwarding
            if let masquerade = section.optional("masquerade") {
                if case .sequence = masquerade.node {
                    gateway.masquerade = .interfaces(
                        try masquerade.list(of: "interface names") { entry throws(ConfigurationError) in
                            let name = try entry.interfaceName()
                            if name == tunnelName {
                                throw entry.valueError("\(name) is the tunnel itself; name the outside interfaces")
                            }
                            return name
                        })
                } else {
                    gateway.masquerade = try masquerade.boolean() ? .allOutside : .off
                }
            }
        }
        var configuration = HomeAgentConfiguration(
            listenPort: listenPort, listenAddresses: listenAddresses,
            tunnel: TunnelSettings(
                name: tunnelName, mtu: mtu, addresses: tunnelAddresses,
                offloads: try tunnelMapping.optional("offloads")?.boolean() ?? ConfigurationDefaults.offloads,
                cryptoThreads: try tunnelMapping.cryptoThreads()),
            mobileNodes: nodes,
            statusFile: statusFile, maximumBindingLifetime: maximumLifetime, natKeepalive: natKeepalive,
            controller: controller, gateway: gateway)
        configuration.controlSocket = try root.optional("control-socket")?.filePath()
        configuration.stateDirectory = try root.optional("state-directory")?.filePath() ?? ConfigurationDefaults.stateDirectory
        configuration.metrics = try root.metricsSettings(defaults: .homeAgentDefault)
        configuration.logLevel = try root.optional("log-level")?.logLevel()
        return configuration
    }
}

/// `gateway`: how the Home Agent forwards between its TUN device and the rest of the network
/// (DESIGN.md, "The HA is a gateway"). See docs/gateway.md for what it changes and how it is undone.
public struct GatewaySettings: Hashable, Sendable, CustomStringConvertible {
    /// Which IPv4 traffic from the Mobile Nodes' Home Addresses is masqueraded (source NAT to the
    /// outgoing interface's address).
    public enum Masquerade: Hashable, Sendable {
        /// `masquerade: false`: none; the rest of the network must route the Home Addresses back.
        case off
        /// `masquerade: true` (the default): out of every interface but the TUN device.
        case allOutside
        /// `masquerade: [eth0, ...]`: out of these interfaces only.
        case interfaces([String])
    }

    /// `gateway.forwarding`, default true: set `net.ipv4.ip_forward` and `net.ipv6.conf.all.forwarding`
    /// to 1 while running, and put the previous values back on exit.
    public var forwarding: Bool
    /// `gateway.masquerade`, default true (``Masquerade/allOutside``).
    public var masquerade: Masquerade

    public init(forwarding: Bool = true, masquerade: Masquerade = .allOutside) {
        self.forwarding = forwarding
        self.masquerade = masquerade
    }

    public var description: String {
        let masqueradeText =
            switch masquerade {
            case .off: "off"
            case .allOutside: "all outside interfaces"
            case .interfaces(let names): names.joined(separator: ", ")
            }
        return "gateway: forwarding \(forwarding ? "on" : "off"), IPv4 masquerade \(masqueradeText)"
    }
}
