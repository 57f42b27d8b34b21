import Foundation
import TernCrypto
public import TernDataChannel
public import TernHAC
public import TernStore
import TernOS
public import TernProtocol
public import TernTLS

/// The Mobile Node's side of the bootstrap (RFC 6618 §5): TLS to the Home Agent Controller, verified as
/// §9.2 says, then the PSK exchange (``PSKClient``), bound to the TLS channel by tls-server-end-point.
public enum HomeAgentControllerClient {
    public struct Settings: Sendable {
        public var controller: SocketAddress
        public var trust: TLSTrust
        /// The name or address the HAC's certificate must carry (subjectAltName, no wildcards).
        public var serverIdentity: TLSServerIdentity
        public var identity: NetworkAccessIdentifier
        public var preSharedKey: [UInt8]
        public var proposedSuites: [Ciphersuite]
        public var proposedScope: SecurityAssociationScope
        /// The whole exchange (TCP, TLS, both request/response pairs) must finish within this.
        public var exchangeSeconds: Double
        /// SO_MARK for the TCP connection: with the full tunnel, the mark that keeps it outside the tunnel
        /// (docs/gateway.md); nil: none.
        public var firewallMark: UInt32?
        /// How long, in all, the MN waits on the HAC's `retry-after` (503 while it throttles) before it
        /// gives up: an answer further out than this fails at once.
        public var retryAfterBudgetSeconds: Double
        /// Told how many seconds the client waits on a `retry-after` before it does (for the log).
        public var waiting: (@Sendable (Double) -> Void)?

        public init(
            controller: SocketAddress, trust: TLSTrust, serverIdentity: TLSServerIdentity,
            identity: NetworkAccessIdentifier, preSharedKey: [UInt8],
            proposedSuites: [Ciphersuite] = PSKServer.Policy.defaultSuitePreference,
            proposedScope: SecurityAssociationScope = .allTraffic, exchangeSeconds: Double = 10,
            firewallMark: UInt32? = nil, retryAfterBudgetSeconds: Double = RetryAfter.defaultBudgetSeconds,
            waiting: (@Sendable (Double) -> Void)? = nil
        ) {
            self.waiting = waiting
            self.firewallMark = firewallMark
            self.retryAfterBudgetSeconds = retryAfterBudgetSeconds
            self.controller = controller
            self.trust = trust
            self.serverIdentity = serverIdentity
            self.identity = identity
            self.preSharedKey = preSharedKey
            self.proposedSuites = proposedSuites
            self.proposedScope = proposedScope
            self.exchangeSeconds = exchangeSeconds
        }
    }

    /// What a bootstrap yields, with how the TLS session went (for the log). Its provisioning holds the
    /// SA's keys, which never show in a description or dump (``HACDirectionalKeys``).
    public struct Result: Sendable {
        public var provisioning: HACProvisioning
        public var tlsVersion: String
        public var tlsCipher: String
    }

    /// Runs one exchange and returns the SA and bootstrap data. Errors say what went wrong for the local
    /// user (a wrong PSK and an unknown identity look the same: DESIGN.md).
    /// A 503 with `retry-after` is waited out and tried again, within ``Settings/retryAfterBudgetSeconds``.
    public static func bootstrap(_ settings: Settings) throws(ControllerError) -> Result {
        var waited = 0.0
        while true {
            var retryAfter: HTTPDate?
            do {
                return try attempt(settings, retryAfter: &retryAfter)
            } catch {
                guard let retryAfter,
                    let wait = RetryAfter.wait(
                        until: retryAfter, now: Date().timeIntervalSince1970, waited: waited,
                        budget: settings.retryAfterBudgetSeconds)
                else { throw error }
                settings.waiting?(wait)
                usleep(UInt32(min(wait, 3600) * 1_000_000))
                waited += wait
            }
        }
    }

    private static func attempt(_ settings: Settings, retryAfter: inout HTTPDate?) throws(ControllerError) -> Result {
        let deadline = Deadline.after(seconds: settings.exchangeSeconds)
        let context: TLSClientContext
        let session: TLSSession
        do {
            context = try TLSClientContext(trust: settings.trust, serverIdentity: settings.serverIdentity)
            session = try context.connect(to: settings.controller, deadline: deadline, firewallMark: settings.firewallMark)
        } catch {
            throw .transport(error)
        }
        defer { try? session.shutdown(deadline: .after(seconds: 1)) }
        var client = PSKClient(
            configuration: PSKClient.Configuration(
                identity: settings.identity, preSharedKey: settings.preSharedKey,
                proposedScope: settings.proposedScope, proposedSuites: settings.proposedSuites),
            channelBinding: session.tlsServerEndPoint)
        let mnRand: HACNonce
        do {
            guard let nonce = HACNonce(octets: try SecureRandom.bytes(count: 32)) else { throw CryptoError("mn-rand") }
            mnRand = nonce
        } catch {
            throw .internalFailure("random: \(error)")
        }
        var stream = ContainerStream(session: session)
        defer { retryAfter = client.retryAfter }
        do {
            var request = try client.start(mnRand: mnRand, now: monotonicNanoseconds())
            // Lock-step (§5.3): Init, then Done; the client machine refuses anything else.
            for _ in 0..<2 {
                try stream.write(request, deadline: deadline)
                let response = try stream.read(deadline: deadline)
                switch try client.receive(response, now: monotonicNanoseconds()) {
                case .send(let next):
                    request = next
                case .provisioned(let provisioning):
                    return Result(provisioning: provisioning, tlsVersion: session.protocolVersion, tlsCipher: session.cipher)
                }
            }
        } catch let error as ControllerError {
            throw error
        } catch let error as HACError {
            throw .exchange(error)
        } catch {
            throw .internalFailure("\(error)")
        }
        throw .exchange(HACError(.unexpectedMessage))
    }
}

/// How long the MN waits on a `retry-after` (RFC 6618 §5.5.6) before it tries the HAC again.
public enum RetryAfter {
    /// The MN waits at most this long, in all, on one bootstrap's `retry-after`s.
    public static let defaultBudgetSeconds = 60.0
    /// An HTTP date has whole seconds: at least this much is waited, so the retry never comes early.
    public static let minimumWaitSeconds = 1.0

    /// Seconds to wait for a `retry-after` of `until` at `now` (POSIX seconds), when `waited` seconds
    /// were spent waiting already; nil when that would pass `budget` (then the MN gives up).
    public static func wait(until: HTTPDate, now: Double, waited: Double, budget: Double) -> Double? {
        let wait = max(Double(until.secondsSince1970) - now, 0) + minimumWaitSeconds
        return waited + wait <= budget ? wait : nil
    }
}

extension SecurityAssociation {
    /// The data channel's SA from what the HAC provisioned (the MN side).
    public init(_ provisioned: HACSecurityAssociation) throws(SecurityAssociationError) {
        self.init(
            securityParameterIndex: provisioned.spi, suite: provisioned.suite, scope: provisioned.scope,
            mobileNodeToHomeAgent: try DirectionalKeys(
                suite: provisioned.suite, encryptionKey: provisioned.mnToHA.encryption,
                integrityKey: provisioned.mnToHA.integrity),
            homeAgentToMobileNode: try DirectionalKeys(
                suite: provisioned.suite, encryptionKey: provisioned.haToMN.encryption,
                integrityKey: provisioned.haToMN.integrity))
    }

    /// The data channel's SA from what the store holds (the HA side).
    public init(_ issued: IssuedSecurityAssociation) throws(SecurityAssociationError) {
        guard let spi = SecurityParameterIndex(rawValue: issued.securityParameterIndex) else {
            throw .crypto("SPI \(issued.securityParameterIndex) is outside 1…2^28−1")
        }
        let keys = issued.keys
        self.init(
            securityParameterIndex: spi, suite: issued.suite, scope: issued.scope,
            mobileNodeToHomeAgent: try DirectionalKeys(
                suite: issued.suite, encryptionKey: keys.mobileNodeToHomeAgentEncryption,
                integrityKey: keys.mobileNodeToHomeAgentIntegrity),
            homeAgentToMobileNode: try DirectionalKeys(
                suite: issued.suite, encryptionKey: keys.homeAgentToMobileNodeEncryption,
                integrityKey: keys.homeAgentToMobileNodeIntegrity))
    }
}

extension HomeAgentControllerClient.Settings: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Never the PSK: its length only.
    public var description: String {
        "HAC \(controller) as \(serverIdentity), identity \(identity), PSK \(redacted(preSharedKey)), "
            + "suites \(proposedSuites)"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["settings": description]) }
}
