/// The `status-code` values of RFC 6618 §5.5.4 (meanings as RFC 2616 §10).
public enum HACStatusCode: Int, Sendable, CaseIterable, CustomStringConvertible {
    case continueExchange = 100
    case ok = 200
    case badRequest = 400
    case unauthorized = 401
    case internalServerError = 500
    case notImplemented = 501
    case serviceUnavailable = 503
    case gatewayTimeout = 504

    /// Exactly three digits, one of the eight values; nil otherwise.
    public init?(parsing text: some StringProtocol) {
        guard text.count == 3, text.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(text),
            let code = HACStatusCode(rawValue: value)
        else { return nil }
        self = code
    }

    public var description: String {
        switch self {
        case .continueExchange: "100 Continue"
        case .ok: "200 OK"
        case .badRequest: "400 Bad Request"
        case .unauthorized: "401 Unauthorized"
        case .internalServerError: "500 Internal Server Error"
        case .notImplemented: "501 Not Implemented"
        case .serviceUnavailable: "503 Service Unavailable"
        case .gatewayTimeout: "504 Gateway Time-out"
        }
    }
}

/// Why an MN–HAC message or exchange failed (RFC 6618 §5). Each error names what was wrong and, where it
/// applies, the TV-header and the line (1-based, counted in the Content) it was on, and maps to the
/// `status-code` the HAC answers with (DESIGN.md, Interop decisions): 400 malformed or wrong Identifier,
/// 401 bad `auth` or unknown identity, 501 no acceptable method or suite, 500 internal.
///
/// On the MN these are shown to the local user only. On the HAC only ``status`` goes on the wire: the
/// detail may say "unknown identity", which must never reach the peer.
public struct HACError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        // Container framing (§5.1).
        /// Ver is not 0.
        case unsupportedVersion(UInt8)
        /// The five Rsrvd bits are not 0.
        case reservedBitsSet(UInt8)
        /// Identifier 0, which §5.1 forbids.
        case zeroIdentifier
        /// Length 0: the Content must be at least one octet.
        case emptyContent
        /// Length above the limit the receiver accepts.
        case contentTooLong(length: Int, limit: Int)
        /// The bytes ended inside a container.
        case truncated(needed: Int, had: Int)
        /// The peer sent more than one outstanding container's worth of bytes (lock-step is violated).
        case tooMuchBufferedData(limit: Int)

        // TV-header encoding (§5.2, §5.5.7).
        /// A line ended by a bare LF or contained a bare CR; only CRLF ends a line.
        case bareLineBreak
        /// A line longer than ``TVHeaderBlock/maximumLineLength`` octets.
        case lineTooLong(limit: Int)
        /// More than ``TVHeaderBlock/maximumHeaderCount`` headers.
        case tooManyHeaders(limit: Int)
        /// A line without a colon, an empty or invalid name, or a continuation line.
        case malformedLine
        /// A character outside printable ASCII (plus tab) in a header value.
        case invalidCharacter
        /// The same header twice, where only one makes sense.
        case duplicateHeader
        /// Too many repetitions of a header that may repeat.
        case tooManyRepetitions(limit: Int)
        /// A header after `auth` (§5.5.5: `auth` MUST be the last TV-header).
        case authNotLast
        /// The Content does not end with the empty line (CRLF CRLF, §5.5.7).
        case missingEndOfMessage
        /// Octets after the empty line that ends the message.
        case trailingOctets

        // Typed parameters (§5.5–5.7).
        /// A header the message needs is absent.
        case missingHeader
        /// A header's value does not parse as its type.
        case invalidValue(String)

        // The exchange (§5.3, §5.8).
        /// A container with the wrong Identifier (replayed, reordered, or out of lock-step).
        case unexpectedIdentifier(expected: UInt8, received: UInt8)
        /// A message arrived when none was expected (after the exchange ended).
        case unexpectedMessage
        /// `auth` did not verify: a wrong PSK, an unknown identity, or a different TLS server certificate.
        case authenticationFailed
        /// The HAC does not know this mn-id. Never sent: on the wire it is the same 401 as a wrong PSK.
        case unknownIdentity
        /// An echoed mn-rand or hac-rand differs from the one first sent.
        case nonceMismatch
        /// No authentication method both sides accept (only `psk` is implemented).
        case noAcceptableMethod
        /// No ciphersuite both sides accept, or the HAC picked one the MN did not offer.
        case noAcceptableSuite
        /// A key header whose length does not fit the selected ciphersuite (DESIGN.md: refused).
        case wrongKeyLength(expected: Int, received: Int)
        /// The HAC ended the exchange with this status; `authenticated` says whether its `auth` verified.
        case rejected(HACStatusCode, authenticated: Bool)
        /// The peer did not complete the exchange before the deadline.
        case timeout
        /// Something inside this side failed (crypto library, provisioning).
        case internalFailure(String)
    }

    public let kind: Kind
    /// The TV-header the error is about, lowercase, if any.
    public let header: String?
    /// The 1-based line of the Content the error is about, if known.
    public let line: Int?

    public init(_ kind: Kind, header: String? = nil, line: Int? = nil) {
        self.kind = kind
        self.header = header
        self.line = line
    }

    /// The status the HAC answers with when this error ends an exchange.
    public var status: HACStatusCode {
        switch kind {
        case .authenticationFailed, .unknownIdentity, .nonceMismatch: .unauthorized
        case .noAcceptableMethod, .noAcceptableSuite: .notImplemented
        case .internalFailure, .wrongKeyLength: .internalServerError
        case .rejected(let status, _): status
        case .timeout: .gatewayTimeout
        default: .badRequest
        }
    }

    public var description: String {
        var where_ = ""
        if let header { where_ += " in '\(header)'" }
        if let line { where_ += " (line \(line))" }
        let what: String =
            switch kind {
            case .unsupportedVersion(let v): "container version \(v) is not 0"
            case .reservedBitsSet(let bits): "container reserved bits are \(bits), not 0"
            case .zeroIdentifier: "container Identifier is 0"
            case .emptyContent: "container Length is 0"
            case .contentTooLong(let length, let limit): "container Content of \(length) octets exceeds the limit of \(limit)"
            case .truncated(let needed, let had): "container truncated: needs \(needed) octets, has \(had)"
            case .tooMuchBufferedData(let limit): "peer sent more than \(limit) octets ahead of the exchange"
            case .bareLineBreak: "line ends with a bare LF or contains a bare CR (only CRLF is allowed)"
            case .lineTooLong(let limit): "line longer than \(limit) octets"
            case .tooManyHeaders(let limit): "more than \(limit) headers"
            case .malformedLine: "malformed header line"
            case .invalidCharacter: "header value holds a character outside printable ASCII"
            case .duplicateHeader: "header appears twice"
            case .tooManyRepetitions(let limit): "header repeated more than \(limit) times"
            case .authNotLast: "'auth' is not the last header"
            case .missingEndOfMessage: "message does not end with an empty line (CRLF CRLF)"
            case .trailingOctets: "octets after the empty line that ends the message"
            case .missingHeader: "required header missing"
            case .invalidValue(let why): "invalid value: \(why)"
            case .unexpectedIdentifier(let expected, let received):
                "container Identifier \(received), expected \(expected) (replayed or out of order)"
            case .unexpectedMessage: "message received after the exchange ended"
            case .authenticationFailed:
                "authentication failed: 'auth' does not verify (wrong PSK, unknown identity, or a different TLS server)"
            case .unknownIdentity: "unknown mn-id"
            case .nonceMismatch: "mn-rand or hac-rand differs from the one exchanged first"
            case .noAcceptableMethod: "no acceptable authentication method (only psk is implemented)"
            case .noAcceptableSuite: "no acceptable ciphersuite"
            case .wrongKeyLength(let expected, let received):
                "key of \(received) octets, the ciphersuite needs \(expected)"
            case .rejected(let status, let authenticated):
                "HAC answered \(status)" + (authenticated ? "" : " (unauthenticated: its auth did not verify)")
            case .timeout: "the exchange timed out"
            case .internalFailure(let why): "internal failure: \(why)"
            }
        return what + where_
    }
}
