import Logging
import TernConfig
import TernDaemon
import TernOS
import TernProtocol
import TernTunnel

// SIGHUP: re-read the configuration file and apply what can change without a restart (docs/reload.md).
// What is reloadable is TernConfig's to say (`reload(to:)`); these apply it to the running daemon. A
// file that does not load changes nothing; a field that needs a restart keeps its running value and is
// named in a warning.

/// Applies a reloaded Home Agent configuration: the static Mobile Nodes (SAs, host routes, the
/// masqueraded Home Addresses), the binding policy, the status file and the log level.
final class HomeAgentReloader {
    private let options: DaemonOptions
    private var logger: Logger
    private var running: HomeAgentConfiguration
    private let plane: HomeAgentDataPlane
    private let netlink: RouteNetlink
    private let tunIndex: UInt32
    private let mtu: Int
    private let gateway: Gateway
    private let stateStore: StateDirectoryStore

    init(
        options: DaemonOptions, logger: Logger, running: HomeAgentConfiguration, plane: HomeAgentDataPlane,
        netlink: RouteNetlink, tunIndex: UInt32, mtu: Int, gateway: Gateway, stateStore: StateDirectoryStore
    ) {
        self.stateStore = stateStore
        self.options = options
        self.logger = logger
        self.running = running
        self.plane = plane
        self.netlink = netlink
        self.tunIndex = tunIndex
        self.mtu = mtu
        self.gateway = gateway
    }

    /// Reloads; returns the status file from now on.
    func reload() -> String? {
        let new: HomeAgentConfiguration
        do {
            try ConfigFile.checkTrusted(path: options.config)
            new = try HomeAgentConfiguration.load(path: options.config)
        } catch {
            logger.error("reload: \(error); nothing changed")
            return running.statusFile
        }
        let change = running.reload(to: new)
        warnRefused(change.refusedFields, logger: logger)
        var applied = change.applied
        // Out first, so that an SPI or a Home Address can pass from one entry to another.
        for node in change.removedMobileNodes {
            plane.remove(node.securityAssociation.securityParameterIndex)
            let kept = Set(applied.mobileNodes.flatMap(\.homeAddresses))
            for address in node.homeAddresses where !kept.contains(address) {
                guard let host = IPPrefix(address: address, length: address.bitWidth) else { continue }
                do { try netlink.deleteRoute(host, interfaceIndex: tunIndex) } catch where error.isNotFound {} catch {
                    logger.warning("reload: cannot delete the route to \(host) of mobile node \(node.name): \(error)")
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
        let homeAddresses = { (configuration: HomeAgentConfiguration) in
            Set(configuration.mobileNodes.flatMap(\.homeAddresses).filter(\.isIPv4))
        }
        if homeAddresses(applied) != homeAddresses(running) {
            let prefixes =
                applied.mobileNodes.flatMap(\.homeAddresses).compactMap { IPPrefix(address: $0, length: $0.bitWidth) }
                + (applied.controller?.homeAddressPools ?? [])
            do { try gateway.updateHomeAddresses(prefixes) } catch {
                logger.error("reload: cannot update the masqueraded home addresses: \(error)")
            }
        }
        if change.bindingPolicyChanged {
            plane.setBindingPolicy(
                BindingCache.Policy(
                    maximumLifetimeSeconds: UInt32(applied.maximumBindingLifetime),
                    natKeepaliveSeconds: UInt32(applied.natKeepalive)))
            logger.info(
                "reload: binding lifetime ≤ \(applied.maximumBindingLifetime) s, NAT keepalive \(applied.natKeepalive) s from the next binding update on")
        }
        options.reloadLogLevel(applied.logLevel, logger: &logger)
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
        for address in node.homeAddresses {
            guard let host = IPPrefix(address: address, length: address.bitWidth) else { continue }
            try netlink.addRoute(host, interfaceIndex: tunIndex)
        }
        // Its sequence state first: resumed past a previous run's (or fresh for new keys), persisted before use.
        let previous = try stateStore.add(node.securityAssociation)
        try plane.add(.init(node, previous: previous))
    }
}

/// Applies a reloaded Mobile Node configuration: keepalive, requested binding lifetime, status file and
/// log level.
final class MobileNodeReloader {
    private let options: DaemonOptions
    private var logger: Logger
    private var running: MobileNodeConfiguration
    private let controller: MobileNodeController

    init(options: DaemonOptions, logger: Logger, running: MobileNodeConfiguration, controller: MobileNodeController) {
        self.options = options
        self.logger = logger
        self.running = running
        self.controller = controller
    }

    /// Reloads; returns the status file from now on.
    func reload() -> String? {
        let new: MobileNodeConfiguration
        do {
            try ConfigFile.checkTrusted(path: options.config)
            new = try MobileNodeConfiguration.load(path: options.config)
        } catch {
            logger.error("reload: \(error); nothing changed")
            return running.statusFile
        }
        let change = running.reload(to: new)
        warnRefused(change.refusedFields, logger: logger)
        let applied = change.applied
        if change.bindingChanged {
            controller.reconfigure(
                .init(
                    keepaliveIntervalSeconds: applied.keepaliveInterval,
                    requestedLifetimeSeconds: UInt32(applied.bindingLifetime)))
            logger.info(
                "reload: keepalive \(applied.keepaliveInterval) s, binding lifetime \(applied.bindingLifetime) s (from the next binding update on)")
        }
        options.reloadLogLevel(applied.logLevel, logger: &logger)
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
