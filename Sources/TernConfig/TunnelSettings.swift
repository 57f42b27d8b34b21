import TernDataChannel
public import TernProtocol

/// The TUN device a daemon opens.
public struct TunnelSettings: Hashable, Sendable {
    /// `tunnel.name`, default `tern0`.
    public var name: String
    /// `tunnel.mtu`; nil lets the daemon pick one that fits every suite in use.
    public var mtu: Int?
    /// The Home Agent's own addresses on its TUN device (`tunnel.addresses`); empty on a Mobile Node, whose
    /// TUN device carries its Home Addresses instead.
    public var addresses: [IPPrefix]
    /// `tunnel.offloads`, default true: open the TUN device with virtio headers and TSO/USO offloads,
    /// and use UDP segmentation (GSO) and receive coalescing (GRO), each where the kernel accepts it
    /// (docs/tunnel.md). false: one packet per read and write, one datagram per message.
    public var offloads: Bool
    /// `tunnel.crypto-threads`, default 1: how many threads share the AEAD work of each big batch — the
    /// data-plane thread itself and N − 1 workers, for the sending and for the receiving thread each
    /// (docs/tunnel.md: crypto lanes). 1: no worker thread at all.
    public var cryptoThreads: Int

    public init(
        name: String = ConfigurationDefaults.tunnelName, mtu: Int? = nil, addresses: [IPPrefix] = [],
        offloads: Bool = ConfigurationDefaults.offloads, cryptoThreads: Int = ConfigurationDefaults.cryptoThreads
    ) {
        self.name = name
        self.mtu = mtu
        self.addresses = addresses
        self.offloads = offloads
        self.cryptoThreads = cryptoThreads
    }
}

/// Loads an SA's keys: given the key file's path (already resolved against the config file's directory),
/// returns its keys. The daemons pass `KeyFile.load`; tests pass a closure over fixed text.
public typealias KeyLoader = (_ path: String) throws -> KeyMaterial

/// The values of optional fields that are left out.
public enum ConfigurationDefaults {
    /// The UDP port of the Tern service, for both `listen.port` and `home-agent.port`.
    public static let servicePort: UInt16 = 7872
    /// `tunnel.name`.
    public static let tunnelName = "tern0"
    /// `tunnel.offloads`.
    public static let offloads = true
    /// `tunnel.crypto-threads`: the data-plane thread alone.
    public static let cryptoThreads = 1
    /// `listen.addresses`: every IPv4 and every IPv6 address.
    public static let listenAddresses: [IPAddress] = [.v4(.any), .v6(.any)]
    /// `suite`: AES-128-GCM, `{13,01}`.
    public static let suite = Ciphersuite.default
    /// `scope`: 1, all traffic protected.
    public static let scope = SecurityAssociationScope.allTraffic
    /// `keepalive`, in seconds.
    public static let keepaliveInterval = 25
    /// `binding.lifetime` (MN: what it asks for) and `binding.maximum-lifetime` (HA: the most it grants).
    public static let bindingLifetime = 600
    /// `binding.nat-keepalive` (HA): DESIGN.md's 25 s, not RFC 5555's 110 s, which many NATs outlive.
    public static let natKeepalive = 25
    /// `state-directory`: where static SAs' sequence state persists (root-only, created 0700).
    public static let stateDirectory = "/var/lib/tern"
}

/// A redacted one-line summary of an SA for descriptions and logs: never the keys.
func summary(_ association: SecurityAssociation) -> String {
    "SPI \(association.securityParameterIndex.rawValue), suite \(association.suite) (\(association.suite.name)), "
        + "scope \(association.scope.rawValue), keys redacted"
}

extension YAMLMapping {
    /// `spi`, `suite` (default `{13,01}`), `scope` (default 1) and `keys` (a key file, loaded through
    /// `keyLoader`), checked in that order. Key-file errors that have a line point into the key file;
    /// those that do not (it cannot be opened, or its permissions are wrong) are reported at `keys`.
    func securityAssociation(keyLoader: KeyLoader) throws(ConfigurationError) -> SecurityAssociation {
        let spi = try required("spi").securityParameterIndex()
        let suite = try optional("suite")?.suite() ?? ConfigurationDefaults.suite
        let scope = try optional("scope")?.scope() ?? ConfigurationDefaults.scope
        let keysField = try required("keys")
        let keyPath = try keysField.filePath()
        let material: KeyMaterial
        do {
            material = try keyLoader(keyPath)
        } catch let error as ConfigurationError {
            guard error.line == nil else { throw error }
            throw keysField.valueError(error.description)
        } catch {
            throw keysField.valueError("\(keyPath): cannot load the key file: \(error)")
        }
        return try material.securityAssociation(securityParameterIndex: spi, suite: suite, scope: scope)
    }

    /// `name` (default `tern0`) and `mtu` of a `tunnel` mapping.
    func tunnelName() throws(ConfigurationError) -> String {
        try optional("name")?.interfaceName() ?? ConfigurationDefaults.tunnelName
    }

    /// `crypto-threads` of a `tunnel` mapping (default 1).
    func cryptoThreads() throws(ConfigurationError) -> Int {
        try optional("crypto-threads")?.integer("number of crypto threads", in: ConfigurationLimits.cryptoThreadsRange)
            ?? ConfigurationDefaults.cryptoThreads
    }
}
