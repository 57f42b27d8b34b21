import ArgumentParser
import Foundation
import Logging
import TernConfig
import TernController
import TernDaemon
import TernDataChannel
import TernMetrics
import TernOS
import TernPrivileges
import TernProtocol
import TernTunnel

struct MobileNodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mn",
        abstract: "Run the Mobile Node: keep the Home Addresses and tunnel traffic to the Home Agent.",
        discussion: """
            Opens the TUN device with the Home Addresses, routes the configured prefixes into it, registers
            with the Home Agent (Binding Update / Acknowledgement over the tunnel, RFC 6275), and sends
            everything read from the TUN device to the Home Agent's UDP service port. It watches the routing
            table: when the way to the Home Agent changes (another network, another address, IPv4 ↔ IPv6,
            a resume from suspend) it follows at once and registers the new care-of address. A keepalive
            goes out whenever the tunnel has been idle for the keepalive interval (25 s by default, shorter
            if the Home Agent reports a NAT). With tunnel.full-tunnel everything is routed into the tunnel
            through a routing table and policy rules of Tern's own (7872), the tunnel's own datagrams marked
            (SO_MARK 7872) to stay outside it. With tunnel.dns: auto (the default) the DNS servers
            (tunnel.dns-servers, else the HAC's) go to systemd-resolved or resolvconf while the node runs.
            SIGINT/SIGTERM deregister, take the DNS servers back, remove the rules and stop. SIGHUP
            re-reads the configuration: keepalive, binding lifetime, status file and log level change at once;
            other fields need a restart (docs/reload.md).
            """)

    @OptionGroup var options: DaemonOptions

    func run() throws {
        // First, before any thread exists: every thread inherits the blocked signals (DaemonRunLoop).
        let signals = try DaemonRunLoop.blockSignalsOrFail()
        let configuration: MobileNodeConfiguration
        do {
            try ConfigFile.checkTrusted(path: options.config)
            configuration = try MobileNodeConfiguration.load(path: options.config)
        } catch {
            throw fail("\(error)", configuration: true)
        }
        let logger = options.makeLogger(label: "tern.mn", configured: configuration.logLevel)
        let metrics = try startMetrics(configuration.metrics, role: .mobileNode, logger: logger)
        if metrics != nil, configuration.controller != nil {
            for kind in MobileNodeBootstrap.Kind.allCases { HACExchangeOutcome.registerAll(dimensions: [("kind", kind.rawValue)]) }
        }
        // Before any network exchange: a second node would bootstrap a new SA from the HAC, which then
        // retires the running node's SAs and cuts it off (issue 13 item 6).
        let controlSocket = configuration.controlSocket ?? ControlSocketDefaults.mobileNode
        let tun = try claimTunnel(configuration, controlSocket: controlSocket)
        let validityEnds = ValidityEnds()
        // Manual keying (the config holds the SA), or a bootstrap from the HAC (RFC 6618 §5).
        // With the full tunnel, every connection to the HAC carries the tunnel's mark and stays outside it.
        let firewallMark: UInt32? = configuration.fullTunnel ? FullTunnelRouting.firewallMark : nil
        let keying: MobileNodeKeying
        do {
            let bootstrapped = try configuration.controller.map { (settings) throws(DaemonError) in
                try MobileNodeBootstrap(settings, kind: .bootstrap, firewallMark: firewallMark, logger: logger)
            }
            if let bootstrapped {
                validityEnds.set(
                    bootstrapped.validityEnd.map { Double($0.secondsSince1970) },
                    for: bootstrapped.association.securityParameterIndex.rawValue)
            }
            keying = try MobileNodeKeying(
                configuration, bootstrapped: bootstrapped, path: options.config, now: wallClockSeconds())
        } catch {
            throw fail(error)
        }
        let association = keying.association
        let homeAgents = keying.homeAgents
        let homeAddresses = keying.homeAddresses
        let validitySeconds = keying.validitySeconds
        let controllerDNSServers = keying.controllerDNSServers
        let suite = association.suite
        let mtu = configuration.tunnel.mtu ?? defaultMTU(for: [suite])

        let netlink: RouteNetlink
        do {
            netlink = try RouteNetlink()
            try netlink.setLink(index: tun.index, up: true, mtu: mtu)
            for address in homeAddresses {
                guard let host = IPPrefix(address: address, length: address.bitWidth) else { continue }
                try netlink.addAddress(host, interfaceIndex: tun.index)
            }
            for route in configuration.routes {
                try netlink.addRoute(route, interfaceIndex: tun.index)
            }
        } catch {
            throw fail("cannot set up TUN device \(configuration.tunnel.name): \(error)")
        }

        // The full tunnel: everything into the TUN device by policy routing, the tunnel's own datagrams
        // marked to stay on the main table. IPv6 goes in too without an IPv6 home address (blocked, not
        // leaked) unless block-ipv6 is false.
        let routing: FullTunnelRouting?
        if !configuration.fullTunnel {
            routing = nil
        } else {
            let hasIPv6 = homeAddresses.contains { !$0.isIPv4 }
            do {
                routing = try FullTunnelRouting(
                    netlink: netlink, tunIndex: tun.index, tunnel: tun.name, ipv6: hasIPv6 || configuration.blockIPv6,
                    recordDirectory: FileTrust.directoryName(controlSocket), logger: logger)
            } catch {
                throw fail("cannot route everything into \(tun.name): \(error)")
            }
        }

        // Unconnected sockets, one per family the Home Agent has: the kernel picks the source address
        // for every datagram by the routing table of the moment, which is what makes a move take effect
        // on the very next packet.
        var ipv4: UDPSocket?
        var ipv6: UDPSocket?
        do {
            for homeAgent in homeAgents {
                let isIPv6 = !homeAgent.address.isIPv4
                let socket = try UDPSocket(ipv6: isIPv6, receivePacketInfo: false)
                if let firewallMark { try socket.setFirewallMark(firewallMark) }
                try socket.bind(SocketAddress(isIPv6 ? .v6(.any) : .v4(.any), port: 0))
                if isIPv6 { ipv6 = socket } else { ipv4 = socket }
            }
        } catch {
            routing?.remove()
            throw fail("cannot open a UDP socket for the Home Agent: \(error)")
        }

        // With a HAC the control plane re-contacts it before the validity end, or when the HA answers
        // REINIT_SA_WITH_HAC (176).
        var rekey: MobileNodeController.Rekey?
        if let settings = configuration.controller {
            let known = RekeyComparison(
                homeAddresses: homeAddresses, dnsServers: controllerDNSServers, staticDNS: !configuration.dnsServers.isEmpty)
            rekey = { [logger] in
                let bootstrapped = try MobileNodeBootstrap(settings, kind: .rekey, firewallMark: firewallMark, logger: logger)
                validityEnds.set(
                    bootstrapped.validityEnd.map { Double($0.secondsSince1970) },
                    for: bootstrapped.association.securityParameterIndex.rawValue)
                for warning in known.warnings(homeAddresses: bootstrapped.homeAddresses, dnsServers: bootstrapped.dnsServers) {
                    logger.warning("\(warning)")
                }
                return MobileNodeController.Rekeyed(
                    association: bootstrapped.association,
                    validitySeconds: bootstrapped.validitySeconds ?? Double(ControllerServerSettings.defaultValidity))
            }
        }
        // A static SA resumes past what its previous run may have used (docs/tunnel.md, Restarts); an SA
        // from the HAC is new at every start.
        let staticState: StaticSequenceState?
        do {
            staticState = try configuration.controller == nil
                ? StaticSequenceState(
                    directory: configuration.stateDirectory, role: .mobileNode, associations: [association],
                    user: options.user)
                : nil
        } catch {
            throw fail(error)
        }
        let failure = try dataPlaneFailureNotifier()
        let plane: MobileNodeDataPlane
        let controller: MobileNodeController
        let sequenceState: SequenceStateThread?
        do {
            plane = try MobileNodeDataPlane(
                tun: tun, ipv4: ipv4, ipv6: ipv6, homeAgents: homeAgents, mtu: mtu,
                association: association, homeAddresses: homeAddresses,
                keepaliveIntervalSeconds: configuration.keepaliveInterval,
                offloads: configuration.tunnel.offloads, cryptoThreads: configuration.tunnel.cryptoThreads,
                restored: staticState.map { $0.previous[association.securityParameterIndex.rawValue] ?? .init() },
                events: { [logger] event in log(event, logger, failure: failure) })
            sequenceState = try staticState.map { state in
                try SequenceStateThread(source: plane, stores: [state.store], log: { [logger] in logger.error("\($0)") })
            }
            let ipv4HomeAddress = homeAddresses.lazy.compactMap {
                if case .v4(let address) = $0 { address } else { nil }
            }.first
            controller = try MobileNodeController(
                dataPlane: plane, netlink: try RouteNetlink(), monitor: try RouteMonitor(),
                binding: BindingUpdateList.Configuration(
                    requestedLifetimeSeconds: UInt32(configuration.bindingLifetime), ipv4HomeAddress: ipv4HomeAddress),
                initialSequenceNumber: UInt16.random(in: 0...UInt16.max),
                keepaliveIntervalSeconds: configuration.keepaliveInterval,
                rekey: rekey, validitySeconds: validitySeconds, firewallMark: firewallMark,
                events: { [logger] event in
                    log(event, logger)
                    record(event)
                })
            logger.info("offloads: \(plane.offloads), crypto threads: \(plane.cryptoThreads)")
            try plane.start()
            try controller.start()
        } catch {
            routing?.remove()
            throw fail("cannot start the data plane: \(error)")
        }
        // The tunnel is up: its DNS servers go to the system's resolver, before the privilege drop (they
        // are taken back at the stop as root without capabilities, which owns what resolvconf writes).
        let resolver = applyDNS(
            configuration, controllerServers: controllerDNSServers, tunnel: tun.name, logger: logger)
        // Undoes the node in order, from here on: the controller deregisters through the data plane, so
        // it stops first; then the DNS servers and the full tunnel's routing go back.
        let takeDown = {
            controller.stop()
            plane.stop()
            // After the data plane: the marks it writes are final, then the clean-stop marker.
            sequenceState?.stop()
            resolver?.restore()
            routing?.remove()
        }
        do {
            try dropPrivileges(.mobileNode(rereadsKeyFiles: configuration.controller != nil), options: options, logger: logger)
        } catch {
            takeDown()
            throw error
        }
        let homeAddressText = homeAddresses.map(\.description).joined(separator: ", ")
        logger.info(
            "mobile node up: \(tun.name) mtu \(mtu), home addresses \(homeAddressText), home agent \(homeAgents.map(\.description).joined(separator: " or ")), SPI \(association.securityParameterIndex.rawValue) suite \(suite)"
        )
        if let metrics {
            let tunnel = TunnelMetrics()
            metrics.addCollector {
                tunnel.update(plane.statistics())
                MobileNodeMetrics.record(
                    controller.registration(),
                    securityAssociationExpirySeconds: validityEnds.secondsLeft(for: plane.currentSecurityParameterIndex.rawValue))
            }
        }
        let report: @Sendable () -> StatusReport = {
            StatusReport(
                role: "mobile-node", counters: plane.statistics(), bindings: [],
                registration: .init(controller.registration()))
        }
        let status: StatusServer
        do {
            status = try StatusServer(path: controlSocket, report: report, logger: logger)
        } catch {
            takeDown()
            throw fail(error)
        }
        let reloader = MobileNodeReloader(
            load: { [options] in
                try ConfigFile.checkTrusted(path: options.config)
                return try MobileNodeConfiguration.load(path: options.config)
            },
            reloadLogLevel: options.reloadLogLevel, logger: logger, running: configuration, controller: controller)
        var loop = DaemonRunLoop(
            signals: signals, logger: logger, statusFile: configuration.statusFile, report: report,
            reload: reloader.reload,
            stop: {
                metrics?.stop()
                status.stop()
                takeDown()
            })
        loop.failure = failure
        try loop.runOrExit()
    }
}

extension MobileNodeCommand {
    /// Refuses to start beside a running node, before anything goes out on the network: when a daemon
    /// answers on the control socket, or the TUN device is held by another process (TUNSETIFF: EBUSY).
    /// Returns the TUN device, opened (it is configured once the SA is known).
    func claimTunnel(_ configuration: MobileNodeConfiguration, controlSocket: String) throws -> TunDevice {
        let name = configuration.tunnel.name
        if ControlSocketServer.isAnswered(controlSocket) {
            throw fail(
                "another tern mn is running: a daemon answers on the control socket \(controlSocket) (tern status --socket \(controlSocket) shows it); stop it first (systemctl stop tern-mn, or SIGTERM its process), or give this node its own control-socket and tunnel.name"
            )
        }
        do {
            return try TunDevice(name: name, virtioHeaders: configuration.tunnel.offloads)
        } catch where error.errno == EBUSY {
            throw fail(
                "TUN device \(name) is in use by another process (another tern mn, or another VPN); stop it first, or give this node another tunnel.name"
            )
        } catch {
            throw fail("cannot set up TUN device \(name): \(error)")
        }
    }

    /// Applies the node's DNS servers (`tunnel.dns-servers`, else the HAC's) through the system's
    /// resolver manager, when `tunnel.dns` is `auto`. Nil when nothing was applied; every reason is
    /// logged, none stops the node (it runs, with the system's own DNS, as with `dns: off`).
    func applyDNS(
        _ configuration: MobileNodeConfiguration, controllerServers: [IPAddress], tunnel: String, logger: Logger
    ) -> ResolverConfiguration? {
        guard let servers = MobileNodeKeying.dnsServers(configuration, controllerServers: controllerServers) else {
            return nil
        }
        // Nothing to apply: nothing is run (not even the clean-up of a crashed run's record, which only
        // matters if that run had servers and this one has none; docs/dns.md).
        guard !servers.isEmpty else {
            logger.debug("DNS: no servers to apply (no tunnel.dns-servers, none from the HAC)")
            return nil
        }
        let shown = servers.map(\.description).joined(separator: ", ")
        let manager: ResolverConfiguration.Manager
        switch ResolverConfiguration.detect() {
        case .failure(let reason):
            logger.warning("DNS: \(shown) not applied: \(reason)")
            return nil
        case .success(let found):
            manager = found
        }
        // After the drop the node runs as `--user`: it could not take the servers back at the stop
        // (resolvconf writes root's files, resolved wants root or CAP_NET_ADMIN, which a program the node
        // runs does not inherit), so it does not apply them.
        let switchesUser = options.user.map { name in ((try? Privileges.account(named: name))?.uid ?? 0) != 0 } ?? false
        if switchesUser {
            ResolverConfiguration.removeStale(manager, tunnel: tunnel, logger: logger)
            logger.warning(
                "DNS: \(shown) not applied: with --user the node could not remove them at the stop; run as root (the default) or set tunnel.dns: off"
            )
            return nil
        }
        do {
            return try ResolverConfiguration(
                manager: manager, tunnel: tunnel, servers: servers, fullTunnel: configuration.fullTunnel, logger: logger)
        } catch {
            logger.error("DNS: \(shown) not applied: \(error)")
            return nil
        }
    }
}
