public import Logging
public import TernConfig
public import TernDataChannel
public import TernProtocol
public import TernTunnel

// SIGHUP: re-read the configuration file and apply what can change without a restart (docs/reload.md).
// What is reloadable is TernConfig's to say (`reload(to:)`); these apply it to the running daemon. A file
// that does not load changes nothing; a field that needs a restart keeps its running value and is named in
// a warning. The daemon's parts are reached through the protocols below (conformances in
// TernTunnel+Daemon.swift and Gateway.swift), so tests drive a reload with fakes.

/// The Home Agent's data plane as a reload changes it: static Mobile Nodes and the binding policy.
public protocol StaticMobileNodes: AnyObject, Sendable {
    /// Installs a static Mobile Node resumed from `previous` (its sequence state, persisted first).
    func addStatic(_ node: MobileNodeEntry, previous: PersistedSequenceState) throws
    @discardableResult func remove(_ spi: SecurityParameterIndex) -> Bool
    /// Grants Binding Updates by `policy` from the next one on.
    func setBindingPolicy(_ policy: BindingCache.Policy)
}

/// The masqueraded IPv4 Home Addresses (the gateway's nftables set).
public protocol HomeAddressMasquerade: AnyObject, Sendable {
    func updateHomeAddresses(_ prefixes: [IPPrefix]) throws
}

/// The state directory as a reload adds static SAs to it.
public protocol StaticSequenceStateStore: AnyObject, Sendable {
    /// Takes on `association`; returns what a previous run left of it (fresh for new keys).
    func add(_ association: SecurityAssociation) throws -> PersistedSequenceState
}

/// What a reload does with the configuration's `log-level` (the command line may override it).
public typealias LogLevelReload = (LogLevel?, inout Logger) -> Void

/// The decisions of a Home Agent reload that do not touch the system. Pure.
public enum HomeAgentReloadPlan {
    /// The host routes a removed node leaves behind: its Home Addresses that no node of `applied` has.
    public static func routesToDelete(for node: MobileNodeEntry, keptBy applied: HomeAgentConfiguration) -> [IPAddress] {
        let kept = Set(applied.mobileNodes.flatMap(\.homeAddresses))
        return node.homeAddresses.filter { !kept.contains($0) }
    }

    /// The masqueraded prefixes after the reload (static IPv4 Home Addresses, then the controller's pools),
    /// or nil when the IPv4 Home Addresses did not change.
    public static func masqueradedPrefixes(
        running: HomeAgentConfiguration, applied: HomeAgentConfiguration
    ) -> [IPPrefix]? {
        func ipv4(_ configuration: HomeAgentConfiguration) -> Set<IPAddress> {
            Set(configuration.mobileNodes.flatMap(\.homeAddresses).filter(\.isIPv4))
        }
        guard ipv4(applied) != ipv4(running) else { return nil }
        return homePrefixes(applied)
    }

    /// Every Home Address as a host prefix, then the controller's pools: what the gateway masquerades.
    public static func homePrefixes(_ configuration: HomeAgentConfiguration) -> [IPPrefix] {
        configuration.mobileNodes.flatMap(\.homeAddresses).compactMap { IPPrefix(address: $0, length: $0.bitWidth) }
            + (configuration.controller?.homeAddressPools ?? [])
    }

    /// The binding policy `configuration` asks for.
    public static func bindingPolicy(_ configuration: HomeAgentConfiguration) -> BindingCache.Policy {
        BindingCache.Policy(
            maximumLifetimeSeconds: UInt32(clamping: configuration.maximumBindingLifetime),
            natKeepaliveSeconds: UInt32(clamping: configuration.natKeepalive))
    }
}

/// Applies a reloaded Home Agent configuration: the static Mobile Nodes (SAs, host routes, the masqueraded
/// Home Addresses), the binding policy, the status file and the log level. Used on the main thread only.
public final class HomeAgentReloader {
    private let load: () throws -> HomeAgentConfiguration
    private let reloadLogLevel: LogLevelReload
    private var logger: Logger
    public private(set) var running: HomeAgentConfiguration
    private let plane: any StaticMobileNodes
    private let routes: any HostRoutes
    private let mtu: Int
    private let masquerade: any HomeAddressMasquerade
    private let stateStore: any StaticSequenceStateStore

    /// - Parameter load: reads the configuration file (with its trust check); a throw changes nothing.
    public init(
        load: @escaping () throws -> HomeAgentConfiguration, reloadLogLevel: @escaping LogLevelReload, logger: Logger,
        running: HomeAgentConfiguration, plane: any StaticMobileNodes, routes: any HostRoutes, mtu: Int,
        masquerade: any HomeAddressMasquerade, stateStore: any StaticSequenceStateStore
    ) {
        self.load = load
        self.reloadLogLevel = reloadLogLevel
        self.logger = logger
        self.running = running
        self.plane = plane
        self.routes = routes
        self.mtu = mtu
        self.masquerade = masquerade
        self.stateStore = stateStore
    }

    /// Reloads; returns the status file from now on.
    public func reload() -> String? {
        let new: HomeAgentConfiguration
        do { new = try load() } catch {
            logger.error("reload: \(error); nothing changed")
            return running.statusFile
        }
        let change = running.reload(to: new)
        warnRefused(change.refusedFields, logger: logger)
        var applied = change.applied
        // Out first, so that an SPI or a Home Address can pass from one entry to another.
        for node in change.removedMobileNodes {
            plane.remove(node.securityAssociation.securityParameterIndex)
            for address in HomeAgentReloadPlan.routesToDelete(for: node, keptBy: applied) {
                do { try routes.deleteHostRoute(to: address) } catch {
                    logger.warning("reload: cannot delete the route to \(address) of mobile node \(node.name): \(error)")
                }
            }
            logger.info("reload: mobile node \(node.name) (SPI \(node.securityAssociation.securityParameterIndex.rawValue)) removed")
        }
        for node in change.addedMobileNodes {
            do {
                try add(node)
                logger.info("reload: mobile node \(node.name) added: \(node)")
            } catch {
                // Left out of the running configuration, so that the next reload tries again.
                applied.mobileNodes.removeAll { $0.name == node.name }
                logger.error("reload: cannot add mobile node \(node.name): \(error)")
            }
        }
        if let prefixes = HomeAgentReloadPlan.masqueradedPrefixes(running: running, applied: applied) {
            do { try masquerade.updateHomeAddresses(prefixes) } catch {
                logger.error("reload: cannot update the masqueraded home addresses: \(error)")
            }
        }
        if change.bindingPolicyChanged {
            plane.setBindingPolicy(HomeAgentReloadPlan.bindingPolicy(applied))
            logger.info(
                "reload: binding lifetime ≤ \(applied.maximumBindingLifetime) s, NAT keepalive \(applied.natKeepalive) s from the next binding update on")
        }
        reloadLogLevel(applied.logLevel, &logger)
        running = applied
        logger.info("reload done: \(running.mobileNodes.count) static mobile node(s)")
        return running.statusFile
    }

    /// Routes the node's Home Addresses into the TUN device, then installs its SA.
    private func add(_ node: MobileNodeEntry) throws {
        let fits = defaultMTU(for: [node.securityAssociation.suite])
        if fits < mtu {
            logger.warning(
                "reload: mobile node \(node.name)'s suite \(node.securityAssociation.suite) fits \(fits)-octet packets in 1500; the tunnel MTU stays \(mtu) until a restart")
        }
        for address in node.homeAddresses { try routes.addHostRoute(to: address) }
        // Its sequence state first: resumed past a previous run's (or fresh for new keys), persisted before use.
        let previous = try stateStore.add(node.securityAssociation)
        try plane.addStatic(node, previous: previous)
    }
}

/// The Mobile Node's control plane as a reload changes it.
public protocol ReconfigurableMobileNode: AnyObject, Sendable {
    /// Keeps Mobile Node keepalives every `keepaliveIntervalSeconds` and asks for bindings of
    /// `requestedLifetimeSeconds`, from the next Binding Update on.
    func reconfigure(keepaliveIntervalSeconds: Int, requestedLifetimeSeconds: UInt32)
}

/// Applies a reloaded Mobile Node configuration: keepalive, requested binding lifetime, status file and
/// log level. Used on the main thread only.
public final class MobileNodeReloader {
    private let load: () throws -> MobileNodeConfiguration
    private let reloadLogLevel: LogLevelReload
    private var logger: Logger
    public private(set) var running: MobileNodeConfiguration
    private let controller: any ReconfigurableMobileNode

    public init(
        load: @escaping () throws -> MobileNodeConfiguration, reloadLogLevel: @escaping LogLevelReload, logger: Logger,
        running: MobileNodeConfiguration, controller: any ReconfigurableMobileNode
    ) {
        self.load = load
        self.reloadLogLevel = reloadLogLevel
        self.logger = logger
        self.running = running
        self.controller = controller
    }

    /// Reloads; returns the status file from now on.
    public func reload() -> String? {
        let new: MobileNodeConfiguration
        do { new = try load() } catch {
            logger.error("reload: \(error); nothing changed")
            return running.statusFile
        }
        let change = running.reload(to: new)
        warnRefused(change.refusedFields, logger: logger)
        let applied = change.applied
        if change.bindingChanged {
            controller.reconfigure(
                keepaliveIntervalSeconds: applied.keepaliveInterval,
                requestedLifetimeSeconds: UInt32(clamping: applied.bindingLifetime))
            logger.info(
                "reload: keepalive \(applied.keepaliveInterval) s, binding lifetime \(applied.bindingLifetime) s (from the next binding update on)")
        }
        reloadLogLevel(applied.logLevel, &logger)
        running = applied
        logger.info("reload done")
        return running.statusFile
    }
}

/// One warning per field the file changed that only a restart applies.
private func warnRefused(_ fields: [String], logger: Logger) {
    for field in fields {
        logger.warning("reload: \(field) changed in the file but needs a restart; the running value stays")
    }
}

/// The default MTU of a TUN device: the largest inner packet that every suite in use can seal into a
/// datagram that fits a 1500-octet path with IPv6 and UDP headers around it.
public func defaultMTU(for suites: [Ciphersuite]) -> Int {
    let outerOverhead = 40 + 8
    return suites.map { $0.largestPayload(forDatagramLength: 1500 - outerOverhead) }.min() ?? 1400
}
