import Foundation
import Synchronization
public import TernCrypto
public import TernHAC
public import TernOS
public import TernProtocol
public import TernStore
public import TernTLS

/// The Home Agent Controller (RFC 6618 §4–5) as a service: it accepts TLS on its TCP port, runs the PSK
/// exchange (``PSKServer``) with each Mobile Node, provisions an SA and bootstrap data out of the SQLite
/// store, and hands every new SA to `installed` (the co-located HA puts it in its data plane before the
/// MN's first Binding Update can arrive).
///
/// Threads: one accept thread per listening socket, and one short-lived thread per connection, at most
/// ``Settings/maximumConnections`` at once (more are closed at once: a HAC sees a handful of exchanges a
/// day per MN, so a flood is the only way to exceed it). Every read and write has a deadline.
public final class HomeAgentControllerService: @unchecked Sendable {
    public struct Settings: Sendable {
        /// TCP addresses to listen on (DESIGN.md: port 7872 by default).
        public var listen: [SocketAddress]
        public var certificateChainFile: String
        public var privateKeyFile: String
        /// Suites in the HAC's order of preference; the first the MN offers wins.
        public var suitePreference: [Ciphersuite]
        public var scope: HACScopePolicy
        /// How long an issued SA is valid, in seconds.
        public var validitySeconds: Double
        /// Pools Home Addresses are leased from (one per family), and addresses never to lease (the HA's).
        public var homeAddressPools: [IPPrefix]
        public var reservedAddresses: Set<IPAddress>
        /// What the MN is told: the HA's addresses and UDP port, home prefixes, DNS servers.
        public var bootstrap: HACBootstrap
        public var maximumConnections: Int
        /// The whole exchange (TLS handshake and both request/response pairs) must finish within this.
        public var exchangeSeconds: Double

        public init(
            listen: [SocketAddress], certificateChainFile: String, privateKeyFile: String,
            suitePreference: [Ciphersuite] = PSKServer.Policy.defaultSuitePreference, scope: HACScopePolicy = .asProposed,
            validitySeconds: Double = 86_400, homeAddressPools: [IPPrefix], reservedAddresses: Set<IPAddress>,
            bootstrap: HACBootstrap, maximumConnections: Int = 16, exchangeSeconds: Double = 10
        ) {
            self.listen = listen
            self.certificateChainFile = certificateChainFile
            self.privateKeyFile = privateKeyFile
            self.suitePreference = suitePreference
            self.scope = scope
            self.validitySeconds = validitySeconds
            self.homeAddressPools = homeAddressPools
            self.reservedAddresses = reservedAddresses
            self.bootstrap = bootstrap
            self.maximumConnections = maximumConnections
            self.exchangeSeconds = exchangeSeconds
        }
    }

    /// What happened, for the log (never a key).
    public enum Event: Sendable {
        case provisioned(identity: String, spi: UInt32, suite: Ciphersuite, homeAddresses: [IPAddress], peer: String)
        case failed(peer: String, reason: String)
        case refused(peer: String, reason: String)
    }

    public let settings: Settings
    private let store: HomeAgentControllerStore
    private let tls: TLSServerContext
    private let listeners: [TCPListener]
    private let lifecycle: Lifecycle
    private let events: @Sendable (Event) -> Void
    /// Keys `auth` for identities the store does not know (DESIGN.md: unknown identity), per process.
    private let dummyKey: [UInt8]
    private let active = Atomic<Int>(0)
    /// Wakes the accept threads for the stop.
    private let wakeUp: Notifier
    private let stopping = Atomic<Bool>(false)
    private var threads: [PlatformThread] = []

    /// What the service asks of the Home Agent for each SA it issues, on the connection's thread.
    public struct Lifecycle: Sendable {
        /// Before the MN receives its SA: put it in the data plane, so that the MN's first packets
        /// under it (which may follow the response within microseconds) are recognised.
        public var install: @Sendable (IssuedSecurityAssociation, [IPAddress]) -> Void
        /// The MN has its SA: the ones it replaces may be retired (after a grace period).
        public var commit: @Sendable (IssuedSecurityAssociation) -> Void
        /// The response never reached the MN: take the SA out again.
        public var abandon: @Sendable (IssuedSecurityAssociation) -> Void

        public init(
            install: @escaping @Sendable (IssuedSecurityAssociation, [IPAddress]) -> Void,
            commit: @escaping @Sendable (IssuedSecurityAssociation) -> Void = { _ in },
            abandon: @escaping @Sendable (IssuedSecurityAssociation) -> Void = { _ in }
        ) {
            self.install = install
            self.commit = commit
            self.abandon = abandon
        }
    }

    /// Loads the certificate and key and binds the listening sockets; `start` begins accepting.
    public init(
        settings: Settings, store: HomeAgentControllerStore, lifecycle: Lifecycle,
        events: @escaping @Sendable (Event) -> Void
    ) throws(ControllerError) {
        self.settings = settings
        self.store = store
        self.lifecycle = lifecycle
        self.events = events
        do {
            tls = try TLSServerContext(
                certificateChainFile: settings.certificateChainFile, privateKeyFile: settings.privateKeyFile)
        } catch {
            throw .transport(error)
        }
        do {
            dummyKey = try SecureRandom.bytes(count: 32)
            wakeUp = try Notifier()
            listeners = try settings.listen.map { (address) throws(SystemCallError) in try TCPListener(address: address) }
        } catch let error as SystemCallError {
            throw .internalFailure("cannot listen for the home agent controller: \(error)")
        } catch {
            throw .internalFailure("\(error)")
        }
    }

    /// The addresses actually bound (a port 0 in the settings becomes the kernel's choice).
    public func boundAddresses() -> [SocketAddress] { listeners.compactMap { try? $0.localAddress() } }

    /// The leaf certificate's tls-server-end-point hash (RFC 5929 §4.1), as both sides compute it.
    public var channelBinding: [UInt8] { tls.tlsServerEndPoint }

    public func start() throws(SystemCallError) {
        for (index, listener) in listeners.enumerated() {
            threads.append(try PlatformThread(name: "tern-hac-\(index)") { [self] in acceptLoop(listener) })
        }
    }

    /// Stops accepting; connections in progress finish within their deadline.
    public func stop() {
        stopping.store(true, ordering: .releasing)
        wakeUp.signal()
        for thread in threads { thread.join() }
        threads = []
    }

    private func acceptLoop(_ listener: TCPListener) {
        // Sleeps until a client connects or the stop: no periodic wake-up.
        let poller = Poller([listener.descriptor.rawValue, wakeUp.descriptor.rawValue])
        while !stopping.load(ordering: .acquiring) {
            let connection: TCPConnection
            do {
                guard try poller.wait(timeoutMilliseconds: -1), poller.isReadable(0) else { continue }
                connection = try listener.accept(deadline: .after(seconds: 1))
            } catch {
                if error.errno != ETIMEDOUT, error.errno != ECONNABORTED {
                    events(.failed(peer: "-", reason: "accept: \(error)"))
                }
                continue
            }
            let peer = connection.peerAddress?.description ?? "?"
            guard active.add(1, ordering: .relaxed).newValue <= settings.maximumConnections else {
                active.subtract(1, ordering: .relaxed)
                events(.refused(peer: peer, reason: "\(settings.maximumConnections) exchanges in progress already"))
                HACExchangeOutcome.refused.count()
                continue  // the connection closes as it goes out of scope
            }
            do {
                _ = try PlatformThread(name: "tern-hac-conn") { [self] in
                    serve(connection, peer: peer).count()
                    active.subtract(1, ordering: .relaxed)
                }
            } catch {
                active.subtract(1, ordering: .relaxed)
                events(.failed(peer: peer, reason: "cannot start a thread: \(error)"))
                HACExchangeOutcome.serverError.count()
            }
        }
    }

    /// One exchange, start to end, on its own thread; returns how it ended (for `tern_hac_exchanges_total`).
    private func serve(_ connection: TCPConnection, peer: String) -> HACExchangeOutcome {
        let deadline = Deadline.after(seconds: settings.exchangeSeconds)
        let session: TLSSession
        do {
            session = try tls.accept(connection, deadline: deadline)
        } catch {
            events(.failed(peer: peer, reason: "TLS: \(error)"))
            return HACExchangeOutcome(error)
        }
        let hacRand: HACNonce
        do {
            guard let nonce = HACNonce(octets: try SecureRandom.bytes(count: 32)) else { throw CryptoError("hac-rand") }
            hacRand = nonce
        } catch {
            events(.failed(peer: peer, reason: "random: \(error)"))
            return .serverError
        }
        let provisioner = Provisioner(settings: settings, store: store)
        var server = PSKServer(
            policy: PSKServer.Policy(suitePreference: settings.suitePreference, scope: settings.scope),
            channelBinding: session.tlsServerEndPoint, hacRand: hacRand, dummyKey: dummyKey,
            now: monotonicNanoseconds(),
            lookup: { [store] identity in (try? store.preSharedKey(for: identity.text)) ?? nil },
            provision: { (request) throws(HACProvisioningFailure) in try provisioner.provision(request) })
        var stream = ContainerStream(session: session)
        while true {
            let action: HACServerAction
            do {
                let container = try stream.read(deadline: deadline)
                action = server.receive(container, now: monotonicNanoseconds())
            } catch .framing(let error) {
                action = server.fail(error, now: monotonicNanoseconds())
            } catch {
                _ = server.checkDeadline(now: monotonicNanoseconds())
                events(.failed(peer: peer, reason: "\(error)"))
                return HACExchangeOutcome(error)
            }
            switch action {
            case .respond(let response):
                do {
                    try stream.write(response, deadline: deadline)
                } catch {
                    events(.failed(peer: peer, reason: "\(error)"))
                    return HACExchangeOutcome(error)
                }
            case .respondAndClose(let response, let result):
                // Make before break: the SA is in the data plane before the MN can use it.
                if case .provisioned = result, let issued = provisioner.issued {
                    lifecycle.install(issued.association, issued.homeAddresses)
                }
                do {
                    try stream.write(response, deadline: deadline)
                    try? session.shutdown(deadline: .after(seconds: 1))
                } catch {
                    if let issued = provisioner.issued { lifecycle.abandon(issued.association) }
                    provisioner.abandon()
                    events(.failed(peer: peer, reason: "\(error)"))
                    return HACExchangeOutcome(error)
                }
                return finish(result, provisioner: provisioner, peer: peer)
            case .close(let result):
                provisioner.abandon()
                return finish(result, provisioner: provisioner, peer: peer)
            }
        }
    }

    private func finish(_ result: HACServerResult, provisioner: Provisioner, peer: String) -> HACExchangeOutcome {
        switch result {
        case .provisioned(let identity, _):
            guard let issued = provisioner.issued else {
                events(.failed(peer: peer, reason: "provisioned \(identity.text) without an SA"))
                return .serverError
            }
            // The MN has its SA: older ones of the same MN retire (they stay in the data plane for the
            // grace period of a make-before-break switch).
            try? store.retireSecurityAssociations(
                of: issued.association.identity, except: issued.association.securityParameterIndex,
                at: Date().timeIntervalSince1970)
            lifecycle.commit(issued.association)
            events(
                .provisioned(
                    identity: identity.text, spi: issued.association.securityParameterIndex,
                    suite: issued.association.suite, homeAddresses: issued.homeAddresses, peer: peer))
            return .ok
        case .failed(let error):
            events(.failed(peer: peer, reason: "\(error)"))
            return HACExchangeOutcome(error)
        }
    }
}

/// Leases addresses and issues an SA for one exchange, remembering what it issued so the service can
/// install it, or delete it when the MN never received it.
private final class Provisioner: @unchecked Sendable {
    let settings: HomeAgentControllerService.Settings
    let store: HomeAgentControllerStore
    private(set) var issued: (association: IssuedSecurityAssociation, homeAddresses: [IPAddress])?

    init(settings: HomeAgentControllerService.Settings, store: HomeAgentControllerStore) {
        self.settings = settings
        self.store = store
    }

    func provision(_ request: HACProvisioningRequest) throws(HACProvisioningFailure) -> HACProvisioning {
        let now = Date().timeIntervalSince1970
        do {
            let addresses = try store.leaseHomeAddresses(
                for: request.identity.text, pools: settings.homeAddressPools, reserved: settings.reservedAddresses)
            let association = try store.issueSecurityAssociation(
                for: request.identity.text, suite: request.suite, scope: request.scope,
                validity: settings.validitySeconds, now: now,
                random: { count in (try? SecureRandom.bytes(count: count)) ?? [] })
            issued = (association, addresses)
            var bootstrap = settings.bootstrap
            for address in addresses {
                switch address {
                case .v4(let v4): bootstrap.homeAddressIPv4 = v4
                case .v6(let v6): bootstrap.homeAddressIPv6 = v6
                }
            }
            guard let spi = SecurityParameterIndex(rawValue: association.securityParameterIndex) else {
                throw StoreError("SPI \(association.securityParameterIndex) out of range")
            }
            let keys = association.keys
            return HACProvisioning(
                securityAssociation: HACSecurityAssociation(
                    spi: spi, suite: association.suite, scope: association.scope,
                    mnToHA: HACDirectionalKeys(
                        encryption: keys.mobileNodeToHomeAgentEncryption, integrity: keys.mobileNodeToHomeAgentIntegrity),
                    haToMN: HACDirectionalKeys(
                        encryption: keys.homeAgentToMobileNodeEncryption, integrity: keys.homeAgentToMobileNodeIntegrity),
                    validityEnd: HTTPDate(secondsSince1970: Int64(association.validityEnd))),
                bootstrap: bootstrap)
        } catch {
            throw HACProvisioningFailure(reason: "\(error)")
        }
    }

    /// The exchange failed after provisioning: the MN never got the SA, so it goes.
    func abandon() {
        guard let issued else { return }
        try? store.deleteSecurityAssociation(spi: issued.association.securityParameterIndex)
        self.issued = nil
    }
}
