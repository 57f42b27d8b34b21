// What a reload (SIGHUP) may change of a running daemon's configuration: pure comparisons of two parsed
// configurations. The table of reloadable fields is docs/reload.md; these functions are its one source.
//
// A field is either reloadable (its new value is taken) or not (its running value is kept, and the
// reload names it). Every field not listed as reloadable is compared through the configuration's
// Equatable conformance as well, so a field added later is refused by default rather than silently
// ignored.

/// What reloading a Home Agent's configuration does.
public struct HomeAgentReload: Sendable {
    /// What the daemon runs with afterwards: the new file's reloadable fields over the running
    /// configuration's others.
    public var applied: HomeAgentConfiguration
    /// `mobile-nodes` entries to take out of the data plane: gone from the file, or changed (then the new
    /// entry is in ``addedMobileNodes``).
    public var removedMobileNodes: [MobileNodeEntry]
    /// `mobile-nodes` entries to put in: new in the file, or changed.
    public var addedMobileNodes: [MobileNodeEntry]
    /// Fields that differ in the file but need a restart (YAML names); they keep their running values.
    public var refusedFields: [String]
    /// `binding.maximum-lifetime` or `binding.nat-keepalive` changed.
    public var bindingPolicyChanged: Bool
}

/// What reloading a Mobile Node's configuration does.
public struct MobileNodeReload: Sendable {
    public var applied: MobileNodeConfiguration
    /// Fields that differ in the file but need a restart (YAML names); they keep their running values.
    public var refusedFields: [String]
    /// `keepalive` or `binding.lifetime` changed.
    public var bindingChanged: Bool
}

extension HomeAgentConfiguration {
    /// The YAML names of the fields a reload applies.
    public static let reloadableFields = [
        "mobile-nodes", "binding.maximum-lifetime", "binding.nat-keepalive", "status-file", "log-level",
    ]

    /// Compares the running configuration (`self`) with one just read from the file.
    public func reload(to new: HomeAgentConfiguration) -> HomeAgentReload {
        var comparison = ReloadComparison(running: self, new: new)
        comparison.take(\.mobileNodes)
        comparison.take(\.maximumBindingLifetime)
        comparison.take(\.natKeepalive)
        comparison.take(\.statusFile)
        comparison.take(\.logLevel)
        comparison.keep("listen.port", \.listenPort)
        comparison.keep("listen.addresses", \.listenAddresses)
        comparison.keep("tunnel.name", \.tunnel.name)
        comparison.keep("tunnel.mtu", \.tunnel.mtu)
        comparison.keep("tunnel.addresses", \.tunnel.addresses)
        comparison.keep("tunnel.offloads", \.tunnel.offloads)
        comparison.keep("tunnel.crypto-threads", \.tunnel.cryptoThreads)
        comparison.keep("metrics", \.metrics)
        comparison.keep("hac", \.controller)
        comparison.keep("control-socket", \.controlSocket)
        comparison.keep("state-directory", \.stateDirectory)
        comparison.keep("gateway", \.gateway)

        let wanted = Dictionary(new.mobileNodes.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let running = Dictionary(mobileNodes.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        return HomeAgentReload(
            applied: comparison.applied,
            removedMobileNodes: mobileNodes.filter { wanted[$0.name] != $0 },
            addedMobileNodes: new.mobileNodes.filter { running[$0.name] != $0 },
            refusedFields: comparison.refusedFields(),
            bindingPolicyChanged: maximumBindingLifetime != new.maximumBindingLifetime || natKeepalive != new.natKeepalive)
    }
}

extension MobileNodeConfiguration {
    /// The YAML names of the fields a reload applies.
    public static let reloadableFields = ["keepalive", "binding.lifetime", "status-file", "log-level"]

    /// Compares the running configuration (`self`) with one just read from the file.
    public func reload(to new: MobileNodeConfiguration) -> MobileNodeReload {
        var comparison = ReloadComparison(running: self, new: new)
        comparison.take(\.keepaliveInterval)
        comparison.take(\.bindingLifetime)
        comparison.take(\.statusFile)
        comparison.take(\.logLevel)
        comparison.keep("home-agent.addresses", \.homeAgentAddresses)
        comparison.keep("home-agent.port", \.homeAgentPort)
        comparison.keep("hac", \.controller)
        comparison.keep("tunnel.name", \.tunnel.name)
        comparison.keep("tunnel.mtu", \.tunnel.mtu)
        comparison.keep("tunnel.home-addresses", \.homeAddresses)
        comparison.keep("tunnel.routes", \.routes)
        comparison.keep("tunnel.full-tunnel", \.fullTunnel)
        comparison.keep("tunnel.block-ipv6", \.blockIPv6)
        comparison.keep("tunnel.offloads", \.tunnel.offloads)
        comparison.keep("tunnel.crypto-threads", \.tunnel.cryptoThreads)
        comparison.keep("tunnel.dns", \.dns)
        comparison.keep("tunnel.dns-servers", \.dnsServers)
        comparison.keep("metrics", \.metrics)
        comparison.keep("security-association", \.securityAssociation)
        comparison.keep("control-socket", \.controlSocket)
        comparison.keep("state-directory", \.stateDirectory)
        return MobileNodeReload(
            applied: comparison.applied, refusedFields: comparison.refusedFields(),
            bindingChanged: keepaliveInterval != new.keepaliveInterval || bindingLifetime != new.bindingLifetime)
    }
}

/// Walks the fields of two configurations: ``take(_:)`` applies a reloadable one, ``keep(_:_:)`` keeps
/// the running value of one that needs a restart and notes it when the file changed it.
struct ReloadComparison<Configuration: Equatable> {
    let running: Configuration
    let new: Configuration
    /// What the daemon runs with afterwards.
    private(set) var applied: Configuration
    /// The new configuration with every field walked set back to its running value: what is left
    /// different is a field nobody walked.
    private var unwalked: Configuration
    private var refused: [String] = []

    init(running: Configuration, new: Configuration) {
        self.running = running
        self.new = new
        applied = running
        unwalked = new
    }

    mutating func take<Value>(_ field: WritableKeyPath<Configuration, Value>) {
        applied[keyPath: field] = new[keyPath: field]
        unwalked[keyPath: field] = running[keyPath: field]
    }

    mutating func keep<Value: Equatable>(_ name: String, _ field: WritableKeyPath<Configuration, Value>) {
        if running[keyPath: field] != new[keyPath: field] { refused.append(name) }
        unwalked[keyPath: field] = running[keyPath: field]
    }

    /// The YAML names of the fields that changed but need a restart.
    func refusedFields() -> [String] {
        unwalked == running ? refused : refused + ["a field that needs a restart"]
    }
}
