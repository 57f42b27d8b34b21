import Foundation
import Logging
import Synchronization
import TernConfig
import TernController
import TernDataChannel
import TernHAC
import TernOS
import TernProtocol
import TernStore
import TernTLS
import TernTunnel

/// The co-located Home Agent Controller (DESIGN.md: deployment): it shares the HA's process, and every
/// SA it issues goes straight into the HA's data plane, with host routes for the MN's Home Addresses.
struct ColocatedController {
    /// How long a replaced SA stays in the data plane, so packets already in flight under it still
    /// arrive (make before break).
    static let retirementGraceSeconds: Double = 60

    let service: HomeAgentControllerService
    let store: HomeAgentControllerStore
    let keeper: ControllerStateKeeper

    /// Opens the store, puts its live SAs back into the data plane, and starts the service.
    init(
        settings: ControllerServerSettings, servicePort: UInt16, tunnelAddresses: [IPPrefix], plane: HomeAgentDataPlane,
        netlink: RouteNetlink, tunIndex: UInt32, counters: ControllerCounters, logger: Logger
    ) throws {
        do {
            store = try HomeAgentControllerStore(path: settings.database)
        } catch {
            throw fail("\(error)")
        }
        let store = store
        let retirements: RetirementSchedule
        do {
            retirements = try RetirementSchedule()
        } catch {
            throw fail("cannot schedule SA retirements: \(error)")
        }
        // Whether the previous run stopped cleanly (its receive high-water marks are exact); from now on
        // this run is not known to, until its own clean stop says so (docs/tunnel.md, Restarts).
        let previousStopWasClean: Bool
        do {
            previousStopWasClean = try store.previousStopWasClean()
            try store.recordStop(clean: false)
        } catch {
            throw fail("cannot record the start in \(settings.database): \(error)")
        }
        // `restored`: put back from the database after a restart (else issued just now).
        let install: @Sendable (IssuedSecurityAssociation, [IPAddress], Bool) -> Void = { [plane, netlink, logger, store] issued, addresses, restored in
            do {
                let association = try SecurityAssociation(issued)
                // Resume past what a previous run may have used, and persist the next step before use.
                let persisted = PersistedSequenceState(sentReserved: issued.sequenceReservation)
                let (resume, granted) = persisted.resumedReservation
                try store.reserveSequenceNumbers(spi: issued.securityParameterIndex, through: granted)
                for address in addresses {
                    guard let host = IPPrefix(address: address, length: address.bitWidth) else { continue }
                    try netlink.addRoute(host, interfaceIndex: tunIndex)
                }
                try plane.add(
                    .init(
                        name: issued.identity, association: association, homeAddresses: addresses,
                        sequenceReservation: (resume, granted), validity: (issued.issuedAt, issued.validityEnd),
                        receivedThrough: issued.receivedHighest,
                        holdEndpointUntilBindingUpdate: restored && !previousStopWasClean))
            } catch {
                logger.error("cannot install SA \(issued.securityParameterIndex) of \(issued.identity): \(error)")
            }
        }
        // Older SAs of the same MN leave the data plane `delay` seconds after a newer one was committed.
        // The state thread takes them out when due (no Swift concurrency: docs/tunnel.md, idle is idle).
        let retire: @Sendable (IssuedSecurityAssociation, Double) -> Void = { [plane, retirements] issued, delay in
            for old in plane.securityParameterIndexes(of: issued.identity) where old.rawValue != issued.securityParameterIndex {
                retirements.add(old, of: issued.identity, after: delay)
            }
        }
        // A restarted HA keeps serving its MNs without new handshakes (DESIGN.md: where state lives): their
        // SAs, and their bindings, so that even an idle MN is reachable at once.
        let now = Date().timeIntervalSince1970
        do {
            let live = try store.liveSecurityAssociations(at: now, grace: Self.retirementGraceSeconds)
            for issued in live {
                install(issued, try store.homeAddresses(of: issued.identity), true)
                logger.info("restored SA \(issued.securityParameterIndex) of \(issued.identity)")
            }
            // A switch that was in progress at the restart finishes on the same schedule.
            for issued in live where issued.retiredAt == nil {
                let replaced = live.filter { $0.identity == issued.identity && $0.retiredAt != nil }
                guard let retiredAt = replaced.compactMap(\.retiredAt).max() else { continue }
                retire(issued, retiredAt + Self.retirementGraceSeconds - now)
            }
            let clock = ClockPair()
            let bindings = try store.bindings(at: now).compactMap { stored -> HomeAgentDataPlane.BindingChange? in
                guard let spi = SecurityParameterIndex(rawValue: stored.spi) else { return nil }
                let entry = BindingCacheEntry(
                    spi: spi, sequenceNumber: stored.sequenceNumber, careOfAddress: stored.careOfAddress,
                    behindNAT: stored.behindNAT, ipv4HomeAddress: stored.ipv4HomeAddress,
                    lifetimeSeconds: stored.lifetimeSeconds, registeredAt: clock.monotonic(stored.registeredAt),
                    expiresAt: clock.monotonic(stored.expiresAt))
                return .init(spi: spi, entry: entry, endpoint: stored.endpoint.map { SocketAddress($0.address, port: $0.port) })
            }
            plane.restore(bindings)
            if !bindings.isEmpty { logger.info("restored \(bindings.count) binding(s)") }
        } catch {
            throw fail("cannot restore SAs from \(settings.database): \(error)")
        }
        do {
            keeper = try ControllerStateKeeper(plane: plane, store: store, retirements: retirements, logger: logger)
        } catch {
            throw fail("cannot start the controller's state thread: \(error)")
        }
        // The UDP port this HA listens on (`listen.port`): what Mobile Nodes are told to send to.
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
        let serviceSettings = HomeAgentControllerService.Settings(
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
        do {
            service = try HomeAgentControllerService(
                settings: serviceSettings, store: store,
                lifecycle: .init(
                    install: { install($0, $1, false) },
                    commit: { issued in retire(issued, Self.retirementGraceSeconds) },
                    abandon: { [plane] issued in
                        if let spi = SecurityParameterIndex(rawValue: issued.securityParameterIndex) { plane.remove(spi) }
                    }),
                counters: counters,
                events: { [logger] event in
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
                })
            try service.start()
        } catch {
            throw fail("cannot start the home agent controller: \(error)")
        }
    }
}

extension ColocatedController {
    /// Cuts the Mobile Node `identity` off the running HA at once (issue 13 item 7; `tern users remove`
    /// and `disable` ask through the control socket): its SAs leave the data plane, with them its
    /// bindings (nothing is sent or accepted under an SPI the HA no longer holds), and its host routes go.
    /// Returns the control socket's reply line.
    static func revoke(
        _ identity: String, plane: HomeAgentDataPlane, netlink: RouteNetlink, tunIndex: UInt32, logger: Logger
    ) -> String {
        let removed = plane.removeAll(of: identity)
        for address in removed.homeAddresses {
            guard let host = IPPrefix(address: address, length: address.bitWidth) else { continue }
            do { try netlink.deleteRoute(host, interfaceIndex: tunIndex) } catch where error.isNotFound {} catch {
                logger.warning("revoke \(identity): cannot delete the route to \(host): \(error)")
            }
        }
        let spis = removed.spis.map { "\($0.rawValue)" }.joined(separator: ", ")
        let text = removed.spis.isEmpty
            ? "revoked \(identity): it held no SA on this home agent"
            : "revoked \(identity): SA(s) \(spis), their bindings and \(removed.homeAddresses.count) host route(s) removed"
        logger.warning("\(text)")
        return text
    }
}

/// Keeps the controller's state in the database as it changes: writes bindings as the receiving thread
/// accepts or drops them; removes SAs past their validity end, and retires replaced SAs when their grace
/// period ends. One thread, woken by the data plane's mailbox, the retirement schedule, the stop, or the
/// next deadline. (Sequence numbers are the SequenceStateThread's, for static and issued SAs alike.)
final class ControllerStateKeeper: @unchecked Sendable {
    private final class StopFlag: Sendable {
        let value = Atomic<Bool>(false)
    }

    private let stopping = StopFlag()
    private let wakeUp: Notifier
    private var thread: PlatformThread?

    init(
        plane: HomeAgentDataPlane, store: HomeAgentControllerStore, retirements: RetirementSchedule, logger: Logger
    ) throws {
        let wakeUp = try Notifier()
        self.wakeUp = wakeUp
        thread = try PlatformThread(name: "tern-ha-state") { [stopping] in
            let changes = plane.bindingChanges
            let poller = Poller([
                changes.notifier.descriptor.rawValue, wakeUp.descriptor.rawValue, retirements.notifier.descriptor.rawValue,
            ])
            while !stopping.value.load(ordering: .acquiring) {
                // Woken by the mailboxes, the stop, the next SA's validity end or the next retirement: no
                // periodic wake-up.
                let untilExpiry = plane.nextValidityEnd.map { max($0 - Date().timeIntervalSince1970, 0) * 1000 + 1 }
                let now = monotonicNanoseconds()
                let untilRetirement = retirements.nextDue.map { $0 > now ? Double($0 - now) / 1e6 + 1 : 0 }
                let timeout = [untilExpiry, untilRetirement].compactMap { $0 }.min().map { Int32(min($0, 86_400_000)) }
                _ = try? poller.wait(timeoutMilliseconds: timeout ?? -1)
                for retired in retirements.takeDue(at: monotonicNanoseconds()) where plane.remove(retired.spi) {
                    logger.info("retired SA \(retired.spi.rawValue) of \(retired.mobileNode)")
                }
                for change in changes.take() { Self.persist(change, in: store, logger: logger) }
                // SAs past their validity end leave the data plane (their MN has re-keyed, or must).
                for spi in plane.removeExpired(at: Date().timeIntervalSince1970) {
                    logger.info("SA \(spi.rawValue) reached its validity end and was removed")
                }
            }
        }
    }

    /// Writes one binding change; times move from this process's monotonic clock to wall-clock seconds.
    private static func persist(_ change: HomeAgentDataPlane.BindingChange, in store: HomeAgentControllerStore, logger: Logger) {
        do {
            guard let entry = change.entry else { return try store.deleteBinding(spi: change.spi.rawValue) }
            let clock = ClockPair()
            try store.saveBinding(
                StoredBinding(
                    spi: entry.spi.rawValue, sequenceNumber: entry.sequenceNumber, careOfAddress: entry.careOfAddress,
                    behindNAT: entry.behindNAT, ipv4HomeAddress: entry.ipv4HomeAddress,
                    lifetimeSeconds: entry.lifetimeSeconds, registeredAt: clock.wall(entry.registeredAt),
                    expiresAt: clock.wall(entry.expiresAt), endpoint: change.endpoint.map { ($0.address, $0.port) }))
        } catch {
            logger.error("cannot persist the binding of SPI \(change.spi.rawValue): \(error)")
        }
    }

    func stop() {
        stopping.value.store(true, ordering: .releasing)
        wakeUp.signal()
        thread?.join()
        thread = nil
    }
}

/// The monotonic and wall clocks read together, to carry a time from one to the other (bindings live on
/// the monotonic clock in the data plane, and on the wall clock in the database across restarts).
struct ClockPair {
    let monotonicNow = monotonicNanoseconds()
    let wallNow = Date().timeIntervalSince1970

    func wall(_ monotonic: UInt64) -> Double { wallNow + (Double(monotonic) - Double(monotonicNow)) / 1e9 }

    func monotonic(_ wall: Double) -> UInt64 {
        let value = Double(monotonicNow) + (wall - wallNow) * 1e9
        return value <= 0 ? 0 : value >= Double(UInt64.max) ? .max : UInt64(value)
    }
}

/// The Mobile Node's bootstrap: the HAC exchange, then what the daemon runs with.
struct Bootstrapped {
    /// Why a bootstrap failed: a sentence for the log or standard error (never a key), and whether the
    /// configuration is at fault (exit status 78).
    struct Failure: Error, CustomStringConvertible {
        var description: String
        var configuration = false
    }

    /// What the exchange is for, as the `kind` label of `tern_hac_exchanges_total` says it.
    enum Kind: String, CaseIterable {
        case bootstrap
        case rekey
    }

    var association: SecurityAssociation
    var homeAgents: [IPAddress]
    var port: UInt16
    var homeAddresses: [IPAddress]
    var validityEnd: HTTPDate?
    var tlsVersion: String
    /// The DNS servers the HAC named (dns-ip4, then dns-ip6), in its order.
    var dnsServers: [IPAddress]
    /// Seconds from now to the SA's validity end, when the HAC gave one.
    var validitySeconds: Double? {
        validityEnd.map { Double($0.secondsSince1970) - Date().timeIntervalSince1970 }
    }

    /// Runs one exchange with the HAC and counts how it ended (`tern_hac_exchanges_total{kind,outcome}`).
    /// - Parameter firewallMark: SO_MARK for the TCP connection (the full tunnel's, so that a re-key
    ///   never runs through the tunnel it re-keys); nil: none.
    init(_ settings: ControllerClientSettings, kind: Kind, firewallMark: UInt32? = nil, logger: Logger) throws(Failure) {
        let key: [UInt8]
        do {
            key = try PreSharedKeyFile.load(settings.pskFile)
        } catch {
            throw Failure(description: "\(error)", configuration: true)
        }
        guard let identity = NetworkAccessIdentifier(settings.identity) else {
            throw Failure(description: "hac.identity: \(settings.identity) is not a network access identifier", configuration: true)
        }
        let trust: TLSTrust =
            if let ca = settings.caFile { .certificateAuthorities(file: ca) } else {
                .pinnedCertificate(file: settings.pinnedCertificate ?? "")
            }
        let dimensions = [("kind", kind.rawValue)]
        let result: HomeAgentControllerClient.Result
        let started = monotonicNanoseconds()
        do {
            result = try HomeAgentControllerClient.bootstrap(
                .init(
                    controller: SocketAddress(settings.address, port: settings.port), trust: trust,
                    serverIdentity: TLSServerIdentity(settings.serverName), identity: identity, preSharedKey: key,
                    proposedSuites: settings.suites.isEmpty ? PSKServer.Policy.defaultSuitePreference : settings.suites,
                    firewallMark: firewallMark,
                    waiting: { [logger] seconds in
                        logger.warning(
                            "the home agent controller answered 503 with retry-after: trying again in \(Int(seconds.rounded(.up))) s")
                    }))
        } catch {
            HACExchangeOutcome(error).count(dimensions: dimensions)
            let what = kind == .bootstrap ? "bootstrap with" : "the exchange with"
            throw Failure(description: "\(what) the home agent controller at \(settings.address) failed: \(error)")
        }
        let provisioned = result.provisioning
        do {
            association = try SecurityAssociation(provisioned.securityAssociation)
        } catch {
            HACExchangeOutcome.serverError.count(dimensions: dimensions)
            throw Failure(description: "the home agent controller sent an unusable SA: \(error)")
        }
        let bootstrap = provisioned.bootstrap
        homeAgents = [bootstrap.homeAgentIPv4.map(IPAddress.v4), bootstrap.homeAgentIPv6.map(IPAddress.v6)].compactMap { $0 }
        homeAddresses = [bootstrap.homeAddressIPv4.map(IPAddress.v4), bootstrap.homeAddressIPv6.map(IPAddress.v6)]
            .compactMap { $0 }
        port = bootstrap.port
        dnsServers = bootstrap.dnsIPv4.map(IPAddress.v4) + bootstrap.dnsIPv6.map(IPAddress.v6)
        validityEnd = provisioned.securityAssociation.validityEnd
        tlsVersion = result.tlsVersion
        guard !homeAgents.isEmpty, !homeAddresses.isEmpty else {
            HACExchangeOutcome.serverError.count(dimensions: dimensions)
            throw Failure(description: "the home agent controller named no home agent or no home address")
        }
        HACExchangeOutcome.ok.count(dimensions: dimensions)
        let milliseconds = String(format: "%.1f", Double(monotonicNanoseconds() - started) / 1e6)
        logger.info(
            "bootstrapped over \(result.tlsVersion) (\(result.tlsCipher)): SPI \(association.securityParameterIndex.rawValue), suite \(association.suite), home addresses \(homeAddresses.map(\.description).joined(separator: ", ")) (\(kind.rawValue) exchange \(milliseconds) ms)"
        )
    }
}

/// A pre-shared key file as `tern users add` writes it: hex, root-only.
enum PreSharedKeyFile {
    static func load(_ path: String) throws -> [UInt8] {
        let material = try KeyFile.readRootOnly(path)
        let text = material.filter { !$0.isWhitespace }
        guard let key = HexEncoding.decode(text), !key.isEmpty else {
            throw ConfigurationError(file: path, message: "expected the pre-shared key as hex digits")
        }
        return key
    }
}
