public import TernProtocol

/// What the MN does next after a HAC response.
public enum HACClientStep: Sendable, Hashable {
    /// Send this request (MHAuth-Done) and wait for the response.
    case send(HACContainer)
    /// The exchange succeeded: configure this SA and bootstrap data, then close TLS (§5.3).
    case provisioned(HACProvisioning)
}

/// The MN side of the PSK exchange (RFC 6618 §5.8, Figure 4), as a value: responses in, requests out.
/// It owns no socket, clock or random source: the caller passes the TLS server's channel binding, the
/// nonce and the monotonic time.
///
/// Any thrown ``HACError`` ends the exchange (the machine stays failed); the caller closes TLS and shows
/// the error's description to the local user.
public struct PSKClient: Sendable {
    public struct Configuration: Sendable {
        public var identity: NetworkAccessIdentifier
        /// The PSK octets (DESIGN.md: decoded from the key file's hex, not its ASCII text).
        public var preSharedKey: [UInt8]
        /// The scope the MN proposes; the HAC's answer decides (§5.6.4).
        public var proposedScope: SecurityAssociationScope
        /// The suites the MN accepts, in its order of preference; sent as `mip6-suitelist`.
        public var proposedSuites: [Ciphersuite]
        /// How long the HAC may take to answer each request, in nanoseconds.
        public var responseTimeout: UInt64

        public init(
            identity: NetworkAccessIdentifier, preSharedKey: [UInt8], proposedScope: SecurityAssociationScope = .allTraffic,
            proposedSuites: [Ciphersuite] = [.aes128GCMSHA256], responseTimeout: UInt64 = 10_000_000_000
        ) {
            self.identity = identity
            self.preSharedKey = preSharedKey
            self.proposedScope = proposedScope
            self.proposedSuites = proposedSuites
            self.responseTimeout = responseTimeout
        }
    }

    private enum State: Sendable {
        case idle
        case awaitingInitResponse(mnRand: HACNonce)
        case awaitingDoneResponse(mnRand: HACNonce, hacRand: HACNonce)
        case finished
        case failed(HACError)
    }

    public let configuration: Configuration
    /// The raw tls-server-end-point hash of the HAC's certificate (RFC 5929 §4.1), from the TLS layer.
    private let channelBinding: [UInt8]
    private var state: State = .idle
    /// When the pending response is overdue (monotonic nanoseconds); nil when nothing is pending.
    public private(set) var deadline: UInt64?

    public init(configuration: Configuration, channelBinding: [UInt8]) {
        self.configuration = configuration
        self.channelBinding = channelBinding
    }

    /// The first request, MHAuth-Init (Identifier 1): `mn-id`, `mn-rand`, `auth-method: psk`.
    /// - Throws: ``HACError/Kind/unexpectedMessage`` if already started.
    public mutating func start(mnRand: HACNonce, now: UInt64) throws(HACError) -> HACContainer {
        guard case .idle = state else { throw HACError(.unexpectedMessage) }
        var message = HACMessage()
        message.mnID = configuration.identity
        message.mnRand = mnRand
        message.authMethods = [.psk]
        guard let container = HACContainer(identifier: 1, content: message.serializedHeaders().finished()) else {
            throw fail(HACError(.internalFailure("MHAuth-Init does not fit a container")))
        }
        state = .awaitingInitResponse(mnRand: mnRand)
        deadline = now &+ min(configuration.responseTimeout, UInt64.max - now)
        return container
    }

    /// Handles one HAC response.
    public mutating func receive(_ container: HACContainer, now: UInt64) throws(HACError) -> HACClientStep {
        do throws(HACError) {
            try checkDeadline(now: now)
            switch state {
            case .awaitingInitResponse(let mnRand):
                return .send(try initResponse(container, mnRand: mnRand, now: now))
            case .awaitingDoneResponse(let mnRand, let hacRand):
                let result = try doneResponse(container, mnRand: mnRand, hacRand: hacRand)
                state = .finished
                deadline = nil
                return .provisioned(result)
            case .failed(let error):
                throw error
            case .idle, .finished:
                throw HACError(.unexpectedMessage)
            }
        } catch {
            throw fail(error)
        }
    }

    /// Throws ``HACError/Kind/timeout`` once `now` has reached ``deadline``; the caller then closes TLS.
    public mutating func checkDeadline(now: UInt64) throws(HACError) {
        if let deadline, now >= deadline { throw fail(HACError(.timeout)) }
    }

    private mutating func fail(_ error: HACError) -> HACError {
        if case .failed(let first) = state { return first }
        state = .failed(error)
        deadline = nil
        return error
    }

    /// The `retry-after` of the HAC's last error response (503 while it throttles this MN; RFC 6618
    /// §5.5.6), if it sent one: the caller waits until then before trying again.
    public private(set) var retryAfter: HTTPDate?

    /// Parses, authenticates and reads the status of a response; throws ``HACError/Kind/rejected``.
    private mutating func open(_ container: HACContainer, identifier: UInt8) throws(HACError) -> HACMessage {
        guard container.identifier == identifier else {
            throw HACError(.unexpectedIdentifier(expected: identifier, received: container.identifier))
        }
        let block = try TVHeaderBlock(parsing: container.content)
        let message = try HACMessage(block)
        let authentic = try HACAuthenticator.verify(
            block, key: configuration.preSharedKey, role: .homeAgentController, channelBinding: channelBinding)
        if let status = message.statusCode, status != .ok, status != .continueExchange {
            retryAfter = message.retryAfter
            throw HACError(.rejected(status, authenticated: authentic), header: "status-code")
        }
        guard authentic else { throw HACError(.authenticationFailed, header: "auth") }
        return message
    }

    private mutating func initResponse(_ container: HACContainer, mnRand: HACNonce, now: UInt64) throws(HACError)
        -> HACContainer
    {
        let message = try open(container, identifier: 1)
        guard let methods = message.authMethods else { throw HACError(.missingHeader, header: "auth-method") }
        guard methods == [.psk] else { throw HACError(.noAcceptableMethod, header: "auth-method") }
        guard let echoed = message.mnRand else { throw HACError(.missingHeader, header: "mn-rand") }
        guard echoed == mnRand else { throw HACError(.nonceMismatch, header: "mn-rand") }
        guard let hacRand = message.hacRand else { throw HACError(.missingHeader, header: "hac-rand") }

        var done = HACMessage()
        done.scope = configuration.proposedScope
        done.suiteList = configuration.proposedSuites
        done.mnRand = mnRand
        done.hacRand = hacRand
        let content = try HACAuthenticator.seal(
            done.serializedHeaders(), key: configuration.preSharedKey, role: .mobileNode, channelBinding: channelBinding)
        guard let request = HACContainer(identifier: 2, content: content) else {
            throw HACError(.internalFailure("MHAuth-Done does not fit a container"))
        }
        state = .awaitingDoneResponse(mnRand: mnRand, hacRand: hacRand)
        deadline = now &+ min(configuration.responseTimeout, UInt64.max - now)
        return request
    }

    private mutating func doneResponse(_ container: HACContainer, mnRand: HACNonce, hacRand: HACNonce) throws(HACError)
        -> HACProvisioning
    {
        let message = try open(container, identifier: 2)
        guard message.statusCode == .ok else { throw HACError(.missingHeader, header: "status-code") }
        guard message.mnRand == mnRand else { throw HACError(.nonceMismatch, header: "mn-rand") }
        guard message.hacRand == hacRand else { throw HACError(.nonceMismatch, header: "hac-rand") }
        return try HACProvisioning(from: message, offered: configuration.proposedSuites)
    }
}
