public import TernProtocol

/// How the HAC ended an exchange.
public enum HACServerResult: Sendable, Hashable {
    /// The MN authenticated and was provisioned; the caller commits what the provisioner reserved.
    case provisioned(identity: NetworkAccessIdentifier, HACProvisioning)
    /// The exchange failed. The error's detail (e.g. "unknown mn-id") is for the HAC's log only; the MN
    /// saw only ``HACError/status``.
    case failed(HACError)
}

/// What the HAC does next.
public enum HACServerAction: Sendable, Hashable {
    /// Send this response and wait for the next request.
    case respond(HACContainer)
    /// Send this final response (success or an error status, always with `auth`), then close TLS (§5.3).
    case respondAndClose(HACContainer, HACServerResult)
    /// Close without sending: the deadline passed, or the exchange had already ended.
    case close(HACServerResult)
}

/// The HAC's SA scope policy (§5.6.4: "the HAC is the peer that mandates the used security association
/// scope").
public enum HACScopePolicy: Sendable, Hashable {
    /// Whatever the MN proposes.
    case asProposed
    /// This scope, whatever the MN proposes.
    case always(SecurityAssociationScope)
}

/// The HAC side of the PSK exchange (RFC 6618 §5.8; DESIGN.md, MN ↔ HAC and Interop decisions), one per
/// TLS connection, as a value: requests in, actions out. Identities, PSKs and provisioning come through
/// closures so the SQLite store stays outside; time, nonces and the dummy key come in as values.
///
/// Unknown identities: MHAuth-Init is answered exactly as for a known one, `auth` keyed with the caller's
/// per-process dummy key, and the exchange fails at MHAuth-Done with 401, so on the wire an unknown
/// identity looks like a wrong PSK.
public struct PSKServer {
    public struct Policy: Sendable {
        /// The suites the HAC will select, most preferred first; the first one the MN also lists wins.
        /// The default leaves out the NULL suites: §5.6 says the selected suite MUST provide confidentiality.
        public var suitePreference: [Ciphersuite]
        public var scope: HACScopePolicy
        /// How long the MN may take for each request, in nanoseconds (from accept, then from each response).
        public var requestTimeout: UInt64

        public static let defaultSuitePreference: [Ciphersuite] = [
            .aes128GCMSHA256, .aes256GCMSHA384, .chacha20Poly1305SHA256, .aes128CBCSHA256, .aes128CBCSHA,
            .tripleDESEDECBCSHA,
        ]

        public init(
            suitePreference: [Ciphersuite] = Self.defaultSuitePreference, scope: HACScopePolicy = .asProposed,
            requestTimeout: UInt64 = 10_000_000_000
        ) {
            self.suitePreference = suitePreference
            self.scope = scope
            self.requestTimeout = requestTimeout
        }
    }

    /// Returns the PSK octets for an identity, or nil when the HAC does not know it.
    public typealias IdentityLookup = (NetworkAccessIdentifier) -> [UInt8]?
    /// Whether an identity may try its key now (the caller's throttle, docs/hac.md "Guessing"): nil, or
    /// the time before which the HAC answers 503 with this `retry-after` instead of trying the key.
    public typealias Admission = (NetworkAccessIdentifier) -> HTTPDate?
    /// Reserves an SPI, keys, home addresses … for an authenticated MN.
    public typealias Provisioner = (HACProvisioningRequest) throws(HACProvisioningFailure) -> HACProvisioning

    private enum State {
        case awaitingInit
        case awaitingDone(identity: NetworkAccessIdentifier, key: [UInt8], known: Bool, mnRand: HACNonce)
        case closed
    }

    public let policy: Policy
    private let channelBinding: [UInt8]
    private let hacRand: HACNonce
    private let dummyKey: [UInt8]
    private let lookup: IdentityLookup
    private let provision: Provisioner
    private let admission: Admission
    private var state: State = .awaitingInit
    /// When the pending request is overdue (monotonic nanoseconds); nil once the exchange has ended.
    public private(set) var deadline: UInt64?

    /// - Parameters:
    ///   - channelBinding: the raw tls-server-end-point hash of the HAC's own certificate (RFC 5929 §4.1).
    ///   - hacRand: 32 fresh random octets for this connection.
    ///   - dummyKey: the random per-process key that keys `auth` for unknown identities.
    ///   - now: monotonic nanoseconds at accept; the first deadline counts from here.
    public init(
        policy: Policy = Policy(), channelBinding: [UInt8], hacRand: HACNonce, dummyKey: [UInt8], now: UInt64,
        lookup: @escaping IdentityLookup, provision: @escaping Provisioner,
        admission: @escaping Admission = { _ in nil }
    ) {
        self.admission = admission
        self.policy = policy
        self.channelBinding = channelBinding
        self.hacRand = hacRand
        self.dummyKey = dummyKey
        self.lookup = lookup
        self.provision = provision
        self.deadline = now &+ min(policy.requestTimeout, UInt64.max - now)
    }

    /// Handles one request container.
    public mutating func receive(_ container: HACContainer, now: UInt64) -> HACServerAction {
        if let expired = checkDeadline(now: now) { return expired }
        switch state {
        case .awaitingInit:
            return mhAuthInit(container, now: now)
        case .awaitingDone(let identity, let key, let known, let mnRand):
            return mhAuthDone(container, identity: identity, key: key, known: known, mnRand: mnRand)
        case .closed:
            return .close(.failed(HACError(.unexpectedMessage)))
        }
    }

    /// Answers a framing error from ``HACContainerDecoder`` (400, with `auth`) and closes. `identifier`
    /// defaults to the one the next request should carry.
    public mutating func fail(_ error: HACError, now: UInt64) -> HACServerAction {
        if let expired = checkDeadline(now: now) { return expired }
        switch state {
        case .awaitingInit:
            return errorResponse(error, identifier: 1, key: dummyKey, mnRand: nil)
        case .awaitingDone(_, let key, _, let mnRand):
            return errorResponse(error, identifier: 2, key: key, mnRand: mnRand)
        case .closed:
            return .close(.failed(error))
        }
    }

    /// `.close(.failed(timeout))` once `now` has reached ``deadline``, else nil. Call from the caller's
    /// timer; nothing is sent, as the MN has stopped talking.
    public mutating func checkDeadline(now: UInt64) -> HACServerAction? {
        guard let deadline, now >= deadline else { return nil }
        state = .closed
        self.deadline = nil
        return .close(.failed(HACError(.timeout)))
    }

    private mutating func errorResponse(
        _ error: HACError, identifier: UInt8, key: [UInt8], mnRand: HACNonce?, retryAfter: HTTPDate? = nil
    ) -> HACServerAction {
        state = .closed
        deadline = nil
        var message = HACMessage()
        message.mnRand = mnRand
        message.hacRand = mnRand == nil ? nil : hacRand
        message.retryAfter = retryAfter
        message.statusCode = error.status
        let content: [UInt8]
        do {
            content = try HACAuthenticator.seal(
                message.serializedHeaders(), key: key, role: .homeAgentController, channelBinding: channelBinding)
        } catch {
            return .close(.failed(error))
        }
        guard let container = HACContainer(identifier: identifier, content: content) else {
            return .close(.failed(HACError(.internalFailure("error response does not fit a container"))))
        }
        return .respondAndClose(container, .failed(error))
    }

    private mutating func mhAuthInit(_ container: HACContainer, now: UInt64) -> HACServerAction {
        guard container.identifier == 1 else {
            return errorResponse(
                HACError(.unexpectedIdentifier(expected: 1, received: container.identifier)),
                identifier: container.identifier, key: dummyKey, mnRand: nil)
        }
        let message: HACMessage
        do {
            message = try HACMessage(parsing: container.content)
        } catch {
            return errorResponse(error, identifier: 1, key: dummyKey, mnRand: nil)
        }
        guard let identity = message.mnID else {
            return errorResponse(HACError(.missingHeader, header: "mn-id"), identifier: 1, key: dummyKey, mnRand: nil)
        }
        guard let mnRand = message.mnRand else {
            return errorResponse(HACError(.missingHeader, header: "mn-rand"), identifier: 1, key: dummyKey, mnRand: nil)
        }
        guard let methods = message.authMethods else {
            return errorResponse(
                HACError(.missingHeader, header: "auth-method"), identifier: 1, key: dummyKey, mnRand: nil)
        }
        // Look the identity up before the method check, so both branches cost the same lookup.
        let psk = lookup(identity)
        let key = psk ?? dummyKey
        // Throttled (known or not, alike): 503 with retry-after, the key not tried (RFC 6618 §5.5.6).
        if let retryAfter = admission(identity) {
            return errorResponse(
                HACError(.rejected(.serviceUnavailable, authenticated: false), header: "mn-id"), identifier: 1, key: key,
                mnRand: nil, retryAfter: retryAfter)
        }
        guard methods.contains(.psk) else {
            return errorResponse(
                HACError(.noAcceptableMethod, header: "auth-method"), identifier: 1, key: key, mnRand: nil)
        }
        var response = HACMessage()
        response.authMethods = [.psk]
        response.mnRand = mnRand
        response.hacRand = hacRand
        let content: [UInt8]
        do {
            content = try HACAuthenticator.seal(
                response.serializedHeaders(), key: key, role: .homeAgentController, channelBinding: channelBinding)
        } catch {
            return errorResponse(error, identifier: 1, key: key, mnRand: nil)
        }
        guard let out = HACContainer(identifier: 1, content: content) else {
            return errorResponse(HACError(.internalFailure("MHAuth-Init response")), identifier: 1, key: key, mnRand: nil)
        }
        state = .awaitingDone(identity: identity, key: key, known: psk != nil, mnRand: mnRand)
        deadline = now &+ min(policy.requestTimeout, UInt64.max - now)
        return .respond(out)
    }

    private mutating func mhAuthDone(
        _ container: HACContainer, identity: NetworkAccessIdentifier, key: [UInt8], known: Bool, mnRand: HACNonce
    ) -> HACServerAction {
        func refuse(_ error: HACError, retryAfter: HTTPDate? = nil) -> HACServerAction {
            errorResponse(error, identifier: container.identifier, key: key, mnRand: mnRand, retryAfter: retryAfter)
        }
        guard container.identifier == 2 else {
            return refuse(HACError(.unexpectedIdentifier(expected: 2, received: container.identifier)))
        }
        let block: TVHeaderBlock
        let message: HACMessage
        do {
            block = try TVHeaderBlock(parsing: container.content)
            message = try HACMessage(block)
            guard try HACAuthenticator.verify(block, key: key, role: .mobileNode, channelBinding: channelBinding) else {
                return refuse(HACError(.authenticationFailed, header: "auth"))
            }
        } catch {
            return refuse(error)
        }
        // Checked after auth so that an unknown identity fails exactly where a wrong PSK does.
        guard known else { return refuse(HACError(.unknownIdentity, header: "mn-id")) }
        guard message.mnRand == mnRand else { return refuse(HACError(.nonceMismatch, header: "mn-rand")) }
        guard message.hacRand == hacRand else { return refuse(HACError(.nonceMismatch, header: "hac-rand")) }
        guard let proposedScope = message.scope else { return refuse(HACError(.missingHeader, header: "mip6-sas")) }
        guard let offered = message.suiteList else {
            return refuse(HACError(.missingHeader, header: "mip6-suitelist"))
        }
        guard let suite = policy.suitePreference.first(where: offered.contains) else {
            return refuse(HACError(.noAcceptableSuite, header: "mip6-suitelist"))
        }
        let scope: SecurityAssociationScope
        switch policy.scope {
        case .asProposed: scope = proposedScope
        case .always(let mandated): scope = mandated
        }
        let provisioning: HACProvisioning
        do {
            provisioning = try provision(HACProvisioningRequest(identity: identity, suite: suite, scope: scope))
        } catch {
            let status = error.status == .serviceUnavailable ? HACStatusCode.serviceUnavailable : .internalServerError
            return refuse(HACError(.rejected(status, authenticated: true)), retryAfter: error.retryAfter)
        }
        let sa = provisioning.securityAssociation
        guard sa.suite == suite, sa.scope == scope else {
            return refuse(HACError(.internalFailure("provisioner changed the suite or scope")))
        }
        do {
            try sa.checkKeyLengths()
        } catch {
            return refuse(HACError(.internalFailure(error.description)))
        }
        var response = HACMessage()
        provisioning.apply(to: &response)
        response.mnRand = mnRand
        response.hacRand = hacRand
        response.statusCode = .ok
        let content: [UInt8]
        do {
            content = try HACAuthenticator.seal(
                response.serializedHeaders(), key: key, role: .homeAgentController, channelBinding: channelBinding)
        } catch {
            return refuse(error)
        }
        guard let out = HACContainer(identifier: 2, content: content) else {
            return refuse(HACError(.internalFailure("MHAuth-Done response does not fit a container")))
        }
        state = .closed
        deadline = nil
        return .respondAndClose(out, .provisioned(identity: identity, provisioning))
    }
}
