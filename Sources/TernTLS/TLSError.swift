internal import COpenSSL
internal import TernCrypto
import TernOS
#if canImport(Glibc)
import Glibc
#endif

/// Anything that went wrong setting up or using a TLS connection to or from the HAC.
///
/// One type for the module (CONVENTIONS.md, "Errors are data"): ``kind`` says what class of failure it
/// was, so a caller can decide (retry on ``Kind/timeout``, alarm on ``Kind/verification``), and
/// ``description`` is a sentence for the log. Never carries key material: details come from OpenSSL's
/// error queue (reason strings, never data), `X509_verify_cert_error_string`, or the system call that failed.
public struct TLSError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, Hashable, Sendable {
        /// A certificate, key or CA file could not be read or is unusable (permissions, format, algorithm).
        case configuration
        /// A socket call failed (connection refused, reset, unreachable).
        case socket
        /// The TLS handshake failed for a reason other than the peer's certificate (protocol version,
        /// cipher, an alert from the peer).
        case handshake
        /// The peer's certificate was refused: chain, name (RFC 6125, no wildcards), pin, or a signature
        /// algorithm without a single hash (no tls-server-end-point, DESIGN.md "Certificates").
        case verification
        /// The operation's deadline passed.
        case timeout
        /// The peer ended the connection (close_notify or end of stream) before the operation finished.
        case peerClosed
        /// A TLS record or state error after the handshake.
        case protocolError
    }

    public let kind: Kind
    /// What was being done, e.g. `TLS handshake with 127.0.0.1:7872` or `load private key /etc/tern/hac.key`.
    public let operation: String
    /// Why it failed, in OpenSSL's or the system's words.
    public let detail: String

    public init(_ kind: Kind, _ operation: String, detail: String) {
        self.kind = kind
        self.operation = operation
        self.detail = detail
    }

    public var description: String {
        let label: String
        switch kind {
        case .configuration: label = "configuration error"
        case .socket: label = "socket error"
        case .handshake: label = "TLS handshake failed"
        case .verification: label = "certificate verification failed"
        case .timeout: label = "timed out"
        case .peerClosed: label = "peer closed the connection"
        case .protocolError: label = "TLS protocol error"
        }
        return detail.isEmpty ? "\(operation): \(label)" : "\(operation): \(label): \(detail)"
    }

    /// A socket failure: ETIMEDOUT from a deadline becomes ``Kind/timeout``.
    static func socket(_ error: SystemCallError, _ operation: String) -> TLSError {
        if error.errno == ETIMEDOUT { return TLSError(.timeout, operation, detail: error.call) }
        return TLSError(.socket, operation, detail: error.description)
    }

    /// An OpenSSL failure, with what OpenSSL left in this thread's error queue (which is cleared).
    static func openSSL(_ kind: Kind, _ operation: String, fallback: String = "") -> TLSError {
        let queued = CryptoError.drainOpenSSLErrors()
        return TLSError(kind, operation, detail: queued.isEmpty ? fallback : queued)
    }

}
