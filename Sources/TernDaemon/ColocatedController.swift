public import Logging
public import TernConfig
public import TernController
import TernHAC
import TernOS
public import TernProtocol
public import TernStore

/// The co-located Home Agent Controller (DESIGN.md: deployment): it shares the HA's process, and every
/// SA it issues goes straight into the HA's data plane, with host routes for the MN's Home Addresses.
public struct ColocatedController {
    public let service: HomeAgentControllerService
    public let store: HomeAgentControllerStore
    public let keeper: ControllerStateKeeper
    public let installer: ControllerInstaller

    /// Opens the store, puts its live SAs and bindings back into the data plane, and starts the state thread
    /// and the service.
    /// - Parameter servicePort: the UDP port this HA listens on (`listen.port`): what MNs are told to send to.
    /// - Throws: ``DaemonError`` saying which step failed.
    public init(
        settings: ControllerServerSettings, servicePort: UInt16, tunnelAddresses: [IPPrefix],
        plane: any ControllerDataPlane, routes: any HostRoutes, counters: ControllerCounters, logger: Logger
    ) throws(DaemonError) {
        do { store = try HomeAgentControllerStore(path: settings.database) } catch { throw DaemonError("\(error)") }
        let store = store
        let retirements: RetirementQueue
        do { retirements = try RetirementQueue() } catch {
            throw DaemonError("cannot schedule SA retirements: \(error)")
        }
        // Whether the previous run stopped cleanly; from now on this run is not known to, until its own clean
        // stop says so (docs/tunnel.md, Restarts).
        let previousStopWasClean: Bool
        do {
            previousStopWasClean = try store.previousStopWasClean()
            try store.recordStop(clean: false)
        } catch {
            throw DaemonError("cannot record the start in \(settings.database): \(error)")
        }
        let installer = ControllerInstaller(
            plane: plane, routes: routes, reservations: SequenceReservations(store: store), retirements: retirements,
            previousStopWasClean: previousStopWasClean, logger: logger)
        self.installer = installer
        let bindings = BindingPersistence(store: store)
        do { _ = try installer.restore(from: store, bindings: bindings, clock: .now()) } catch {
            throw DaemonError("cannot restore SAs from \(settings.database): \(error)")
        }
        do {
            keeper = try ControllerStateKeeper(plane: plane, bindings: bindings, retirements: retirements, logger: logger)
        } catch {
            throw DaemonError("cannot start the controller's state thread: \(error)")
        }
        do {
            service = try HomeAgentControllerService(
                settings: Self.serviceSettings(settings, servicePort: servicePort, tunnelAddresses: tunnelAddresses),
                store: store,
                lifecycle: .init(
                    install: { installer.install($0, homeAddresses: $1, restored: false) },
                    commit: { issued in
                        installer.retireReplaced(
                            by: issued, after: SecurityAssociationRetirement.graceSeconds, now: monotonicNanoseconds())
                    },
                    abandon: { installer.abandon($0) }),
                counters: counters,
                events: { [logger] event in Self.log(event, logger: logger) })
            try service.start()
        } catch {
            keeper.stop()
            throw DaemonError("cannot start the home agent controller: \(error)")
        }
    }

    /// Stops the service, then the state thread.
    public func stop() {
        service.stop()
        keeper.stop()
    }

    /// The service's settings from the configuration's `hac:` section. Pure.
    public static func serviceSettings(
        _ settings: ControllerServerSettings, servicePort: UInt16, tunnelAddresses: [IPPrefix]
    ) -> HomeAgentControllerService.Settings {
        var bootstrap = HACBootstrap(port: servicePort)
        for address in settings.homeAgentAddresses {
            switch address {
            case .v4(let v4): bootstrap.homeAgentIPv4 = v4
            case .v6(let v6): bootstrap.homeAgentIPv6 = v6
            }
        }
        for server in settings.dnsServers {
            switch server {
            case .v4(let v4): bootstrap.dnsIPv4.append(v4)
            case .v6(let v6): bootstrap.dnsIPv6.append(v6)
            }
        }
        return HomeAgentControllerService.Settings(
            listen: settings.listenAddresses.map { SocketAddress($0, port: settings.port) },
            certificateChainFile: settings.certificate, privateKeyFile: settings.privateKey,
            suitePreference: settings.suites.isEmpty ? PSKServer.Policy.defaultSuitePreference : settings.suites,
            scope: settings.scope.map { .always($0) } ?? .asProposed,
            validitySeconds: Double(settings.securityAssociationValidity), homeAddressPools: settings.homeAddressPools,
            reservedAddresses: Set(tunnelAddresses.map(\.address)), bootstrap: bootstrap,
            limits: ControllerLimits(
                maximumConnections: settings.limits.connections,
                maximumConnectionsPerSource: settings.limits.connectionsPerSource,
                firstRecordSeconds: Double(settings.limits.firstRecordTimeout),
                handshakeSeconds: Double(settings.limits.handshakeTimeout),
                exchangeSeconds: Double(settings.limits.exchangeTimeout)))
    }

    private static func log(_ event: HomeAgentControllerService.Event, logger: Logger) {
        switch event {
        case .provisioned(let identity, let spi, let suite, let addresses, let peer):
            logger.info(
                "HAC: \(identity) from \(peer) got SA \(spi), suite \(suite), home addresses \(addresses.map(\.description).joined(separator: ", "))"
            )
        case .failed(let peer, let reason):
            logger.warning("HAC: exchange with \(peer) failed: \(reason)")
        case .refused(let peer, let reason):
            logger.warning("HAC: refused \(peer): \(reason)")
        case .summary(let line):
            logger.warning("HAC: \(line)")
        }
    }
}
