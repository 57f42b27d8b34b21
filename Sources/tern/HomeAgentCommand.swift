import ArgumentParser
import Logging
import TernConfig
import TernController
import TernDaemon
import TernHAC
import TernMetrics
import TernOS
import TernProtocol
import TernTunnel

struct HomeAgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ha",
        abstract: "Run the Home Agent: own the Home Addresses and forward each Mobile Node's traffic.",
        discussion: """
            Opens the TUN device and the UDP service port (7872 by default, IPv4 and IPv6), routes every
            Mobile Node's Home Addresses into the TUN device, and sends each Mobile Node's packets to the
            outer address of its newest authenticated packet. As a gateway (config `gateway:`) it turns on
            IP forwarding (net.ipv4.ip_forward, net.ipv6.conf.all.forwarding) and masquerades the IPv4 Home
            Addresses with an nftables table of its own (table ip tern_<tunnel>); SIGINT/SIGTERM put the
            sysctls back and delete the table. SIGHUP re-reads the configuration: Mobile Nodes, binding
            lifetimes, status file and log level change at once; other fields need a restart (docs/reload.md).
            """)

    @OptionGroup var options: DaemonOptions

    func run() throws {
        // First, before any thread exists: every thread inherits the blocked signals (DaemonRunLoop).
        let signals = try DaemonRunLoop.blockSignalsOrFail()
        let configuration: HomeAgentConfiguration
        do {
            try ConfigFile.checkTrusted(path: options.config)
            configuration = try HomeAgentConfiguration.load(path: options.config)
        } catch {
            throw fail("\(error)", configuration: true)
        }
        let logger = options.makeLogger(label: "tern.ha", configured: configuration.logLevel)
        let metrics = try startMetrics(configuration.metrics, role: .homeAgent, logger: logger)
        if metrics != nil, configuration.controller != nil {
            HACExchangeOutcome.registerAll()
            ControllerCounters.registerAll()
        }
        let controllerCounters = configuration.controller.map { _ in ControllerCounters() }
        // Every controller connection holds a descriptor (hac.limits.connections of them at most).
        if let controller = configuration.controller {
            do {
                let limit = try OpenFileLimit.raiseToHardLimit()
                if limit.soft < UInt64(controller.limits.connections) + 256 {
                    logger.warning(
                        "open-file limit \(limit.soft) is low for hac.limits.connections \(controller.limits.connections): raise LimitNOFILE (docs/hac.md)")
                }
            } catch {
                logger.warning("cannot raise the open-file limit: \(error)")
            }
        }
        var suites = configuration.mobileNodes.map(\.securityAssociation.suite)
        if let controller = configuration.controller {
            suites += controller.suites.isEmpty ? PSKServer.Policy.defaultSuitePreference : controller.suites
        }
        let mtu = configuration.tunnel.mtu ?? defaultMTU(for: suites)

        let tun: TunDevice
        let netlink: RouteNetlink
        do {
            tun = try TunDevice(name: configuration.tunnel.name, virtioHeaders: configuration.tunnel.offloads)
            netlink = try RouteNetlink()
            try netlink.setLink(index: tun.index, up: true, mtu: mtu)
            for prefix in configuration.tunnel.addresses {
                try netlink.addAddress(prefix, interfaceIndex: tun.index)
            }
            for node in configuration.mobileNodes {
                for address in node.homeAddresses {
                    guard let host = IPPrefix(address: address, length: address.bitWidth) else { continue }
                    try netlink.addRoute(host, interfaceIndex: tun.index)
                }
            }
        } catch {
            throw fail("cannot set up TUN device \(configuration.tunnel.name): \(error)")
        }

        var ipv4: UDPSocket?
        var ipv6: UDPSocket?
        for address in configuration.listenAddresses {
            let endpoint = SocketAddress(address, port: configuration.listenPort)
            do {
                let socket = try UDPSocket(ipv6: !address.isIPv4, receivePacketInfo: true)
                try socket.bind(endpoint)
                if address.isIPv4 { ipv4 = socket } else { ipv6 = socket }
            } catch {
                throw fail("cannot listen on \(endpoint): \(error)")
            }
        }

        // Static SAs resume past what their previous run may have used (docs/tunnel.md, Restarts).
        let staticState: StaticSequenceState
        do {
            staticState = try StaticSequenceState(
                directory: configuration.stateDirectory, role: .homeAgent,
                associations: configuration.mobileNodes.map(\.securityAssociation), user: options.user)
        } catch {
            throw fail(error)
        }
        let failure = try dataPlaneFailureNotifier()
        let plane: HomeAgentDataPlane
        do {
            plane = try HomeAgentDataPlane(
                tun: tun, ipv4: ipv4, ipv6: ipv6, mtu: mtu,
                mobileNodes: configuration.mobileNodes.map { node in
                    .init(
                        node,
                        previous: staticState.previous[node.securityAssociation.securityParameterIndex.rawValue] ?? .init())
                },
                bindingPolicy: HomeAgentReloadPlan.bindingPolicy(configuration),
                offloads: configuration.tunnel.offloads, cryptoThreads: configuration.tunnel.cryptoThreads,
                events: { [logger] event in log(event, logger, failure: failure) })
            logger.info("offloads: \(plane.offloads), crypto threads: \(plane.cryptoThreads)")
            try plane.start()
        } catch {
            throw fail("cannot start the data plane: \(error)")
        }
        if let metrics {
            let tunnel = TunnelMetrics()
            metrics.addCollector {
                tunnel.update(plane.statistics())
                HomeAgentMetrics.record(plane.bindings(), now: monotonicNanoseconds())
            }
        }
        let report: @Sendable () -> StatusReport = {
            StatusReport(
                role: "home-agent", counters: plane.statistics(),
                bindings: plane.bindings().map { .init($0, now: monotonicNanoseconds()) },
                controller: controllerCounters?.snapshot())
        }
        // Before anything outside the process changes: a control socket another daemon still answers on
        // stops this one with nothing to undo but the data plane.
        let controlSocketPath = configuration.controlSocket ?? ControlSocketDefaults.homeAgent
        let status: StatusServer
        let routes = TunnelHostRoutes(netlink: netlink, interfaceIndex: tun.index)
        do {
            // With a controller, `tern users remove` / `disable` cut a Mobile Node off through it.
            var revoke: StatusServer.Revoke? = nil
            if configuration.controller != nil {
                revoke = { [plane, routes, logger] (identity: String) -> String in
                    ControllerInstaller.revoke(identity, plane: plane, routes: routes, logger: logger)
                }
            }
            status = try StatusServer(path: controlSocketPath, report: report, revoke: revoke, logger: logger)
        } catch {
            plane.stop()
            throw fail(error)
        }
        let controller = try configuration.controller.map { settings in
            let controller: ColocatedController
            do {
                controller = try ColocatedController(
                    settings: settings, servicePort: configuration.listenPort,
                    tunnelAddresses: configuration.tunnel.addresses, plane: plane, routes: routes,
                    counters: controllerCounters ?? ControllerCounters(), logger: logger)
            } catch {
                throw fail(error)
            }
            let addresses = settings.listenAddresses.map { SocketAddress($0, port: settings.port).description }
            logger.info("home agent controller up: TLS on \(addresses.joined(separator: ", ")), database \(settings.database)")
            return controller
        }
        // After the controller restored its SAs (their requests wait in the mailbox until then).
        let sequenceState: SequenceStateThread
        do {
            sequenceState = try SequenceStateThread(
                source: plane, stores: [staticState.store] + (controller.map { [$0.store] } ?? []),
                log: { [logger] in logger.error("\($0)") })
        } catch {
            controller?.service.stop()
            plane.stop()
            controller?.keeper.stop()
            throw fail("cannot start the sequence state thread: \(error)")
        }
        // Last, so that a failure before it leaves nothing to undo; the stop closure undoes it.
        let homePrefixes = HomeAgentReloadPlan.homePrefixes(configuration)
        let gateway: Gateway
        do {
            gateway = try Gateway(
                settings: configuration.gateway, tunnel: tun.name, homeAddresses: homePrefixes,
                controllerPort: configuration.controller?.port, recordDirectory: FileTrust.directoryName(controlSocketPath), logger: logger)
        } catch {
            controller?.service.stop()
            plane.stop()
            sequenceState.stop()
            controller?.keeper.stop()
            throw fail("cannot set up the gateway: \(error)")
        }
        do {
            try dropPrivileges(.homeAgent, options: options, logger: logger)
        } catch {
            // Put the system back before exiting: the drop failed while everything was still set up.
            gateway.undo()
            controller?.service.stop()
            plane.stop()
            sequenceState.stop()
            controller?.keeper.stop()
            throw error
        }
        let listening = configuration.listenAddresses.map { SocketAddress($0, port: configuration.listenPort).description }
        logger.info(
            "home agent up: \(tun.name) mtu \(mtu), listening on \(listening.joined(separator: ", ")), \(configuration.mobileNodes.count) mobile node(s)"
        )
        let reloader = HomeAgentReloader(
            load: { [options] in
                try ConfigFile.checkTrusted(path: options.config)
                return try HomeAgentConfiguration.load(path: options.config)
            },
            reloadLogLevel: options.reloadLogLevel, logger: logger, running: configuration, plane: plane, routes: routes,
            mtu: mtu, masquerade: gateway, stateStore: staticState.store)
        var loop = DaemonRunLoop(
            signals: signals, logger: logger, statusFile: configuration.statusFile, report: report,
            reload: reloader.reload,
            stop: {
                metrics?.stop()
                status.stop()
                controller?.service.stop()
                plane.stop()
                // After the data plane: the marks it writes are final, then the clean-stop marker.
                sequenceState.stop()
                controller?.keeper.stop()
                gateway.undo()
            })
        loop.failure = failure
        try loop.runOrExit()
    }
}

/// The notifier a failing data-plane thread signals (``DaemonRunLoop/failure``).
func dataPlaneFailureNotifier() throws -> Notifier {
    do { return try Notifier() } catch { throw fail("cannot create the data-plane failure notifier: \(error)") }
}
