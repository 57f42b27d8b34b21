import Foundation
import Synchronization
import TernCrypto
public import TernHAC
public import TernOS
public import TernProtocol
public import TernStore
import TernTLS

/// The Home Agent Controller (RFC 6618 §4–5) as a service: it accepts TLS on its TCP port, runs the PSK
/// exchange (``PSKServer``) with each Mobile Node, provisions an SA and bootstrap data out of the SQLite
/// store, and hands every new SA to `installed` (the co-located HA puts it in its data plane before the
/// MN's first Binding Update can arrive).
///
/// One event-loop thread serves every connection (ControllerEventLoop.swift): epoll, non-blocking
/// sockets, TLS through memory BIOs, and a state per connection, so a flood of idle or slow connections
/// costs descriptors and a little memory, never threads. ``ConnectionAdmission`` decides who stays
/// (per-source and global caps, phase deadlines), ``AuthenticationThrottle`` slows PSK guessing, and
/// ``EventSummary`` keeps the log bounded (docs/hac.md, "Under attack").
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
        /// Connection caps and deadlines (`hac.limits`).
        public var limits: ControllerLimits
        /// PSK guessing's backoff.
        public var throttle: AuthenticationThrottle.Limits

        public init(
            listen: [SocketAddress], certificateChainFile: String, privateKeyFile: String,
            suitePreference: [Ciphersuite] = PSKServer.Policy.defaultSuitePreference, scope: HACScopePolicy = .asProposed,
            validitySeconds: Double = 86_400, homeAddressPools: [IPPrefix], reservedAddresses: Set<IPAddress>,
            bootstrap: HACBootstrap, limits: ControllerLimits = ControllerLimits(),
            throttle: AuthenticationThrottle.Limits = AuthenticationThrottle.Limits()
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
            self.limits = limits
            self.throttle = throttle
        }
    }

    /// What happened, for the log (never a key).
    public enum Event: Sendable {
        case provisioned(identity: String, spi: UInt32, suite: Ciphersuite, homeAddresses: [IPAddress], peer: String)
        case failed(peer: String, reason: String)
        case refused(peer: String, reason: String)
        /// Events past the first of their source and reason in a window, counted (``EventSummary``).
        case summary(EventSummary.Line)
    }

    public let settings: Settings
    let store: HomeAgentControllerStore
    let tls: TLSServerContext
    let listeners: [TCPListener]
    let lifecycle: Lifecycle
    let events: @Sendable (Event) -> Void
    /// Keys `auth` for identities the store does not know (DESIGN.md: unknown identity), per process.
    let dummyKey: [UInt8]
    /// Wakes the event loop for the stop.
    let wakeUp: Notifier
    let stopping = Atomic<Bool>(false)
    let counters: ControllerCounters
    private var thread: PlatformThread?

    /// The event loop's state; only its thread touches it (ControllerEventLoop.swift).
    var loop: EventLoopState

    /// What the service asks of the Home Agent for each SA it issues, on the controller's event-loop thread
    /// (so each must be quick: a data-plane insert, a route).
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
        counters: ControllerCounters = ControllerCounters(), events: @escaping @Sendable (Event) -> Void
    ) throws(ControllerError) {
        self.counters = counters
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
            listeners = try settings.listen.map { (address) throws(SystemCallError) in
                try TCPListener(address: address, backlog: Self.listenBacklog)
            }
            loop = try EventLoopState(settings: settings)
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

    /// The kernel's queue of connections not yet accepted: a burst of new connections waits there while
    /// the loop sheds (somaxconn may cap it lower).
    public static let listenBacklog: Int32 = 1024

    /// Counters since the start, for `tern status` and the metrics endpoint; safe from any thread.
    public func statistics() -> ControllerStatistics { counters.snapshot() }

    public func start() throws(SystemCallError) {
        thread = try PlatformThread(name: "tern-hac") { [self] in runLoop() }
    }

    /// Stops the loop and closes every connection.
    public func stop() {
        stopping.store(true, ordering: .releasing)
        wakeUp.signal()
        thread?.join()
        thread = nil
    }
}
