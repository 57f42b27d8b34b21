import CoreMetrics
public import TernProtocol
public import TernTLS

/// How one MN–HAC exchange ended, as `tern_hac_exchanges_total{outcome}` counts it: by the RFC 6618 status
/// it ended with, or by what stopped it before a status could be sent.
public enum HACExchangeOutcome: String, Sendable, CaseIterable {
    /// 200: the MN was provisioned.
    case ok
    /// 400 Bad Request: framing or a message that does not parse.
    case badRequest = "bad_request"
    /// 401 Unauthorized: wrong PSK, unknown identity, or `auth` bound to another TLS channel.
    case unauthorized
    /// 501 Not Implemented: no authentication method or ciphersuite both sides accept.
    case notImplemented = "not_implemented"
    /// 500 / 503: the HAC failed inside (store, random numbers, crypto library).
    case serverError = "server_error"
    /// TLS or TCP failed: handshake, certificate verification, a reset, the peer closing early.
    case tlsFailure = "tls_failure"
    /// The exchange's deadline passed (504 on the wire when the HAC noticed it first).
    case timeout
    /// HA only: the connection was closed unserved for a connection cap: shed for a newer one, or refused
    /// (docs/hac.md, "Under attack").
    case refused

    /// The outcome an RFC 6618 status stands for.
    public init(status: HACStatusCode) {
        switch status {
        case .ok: self = .ok
        case .unauthorized: self = .unauthorized
        case .notImplemented: self = .notImplemented
        case .internalServerError, .serviceUnavailable: self = .serverError
        case .gatewayTimeout: self = .timeout
        case .badRequest, .continueExchange: self = .badRequest
        }
    }

    public init(_ error: HACError) {
        if case .timeout = error.kind { self = .timeout } else { self.init(status: error.status) }
    }

    public init(_ error: TLSError) {
        self = error.kind == .timeout ? .timeout : .tlsFailure
    }

    public init(_ error: ControllerError) {
        switch error {
        case .framing: self = .badRequest
        case .exchange(let error): self.init(error)
        case .transport(let error): self.init(error)
        case .store, .internalFailure: self = .serverError
        }
    }

    /// Adds one to `tern_hac_exchanges_total{<dimensions>, outcome}` (a no-op while metrics are off).
    public func count(dimensions: [(String, String)] = []) {
        Counter(label: Self.metric, dimensions: dimensions + [("outcome", rawValue)]).increment()
    }

    /// Makes every outcome's series exist at 0, so that a rate over one that has not happened yet is 0.
    public static func registerAll(dimensions: [(String, String)] = []) {
        for outcome in allCases {
            Counter(label: metric, dimensions: dimensions + [("outcome", outcome.rawValue)]).increment(by: 0)
        }
    }

    static let metric = "tern_hac_exchanges_total"
}
