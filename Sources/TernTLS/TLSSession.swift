internal import COpenSSL
public import TernOS
#if canImport(Glibc)
import Glibc
#endif

/// One TLS connection between an MN and the HAC, after a successful handshake.
///
/// OpenSSL works on two memory BIOs and this class moves the octets between them and the
/// ``TCPConnection``: every system call stays in TernOS (CONVENTIONS.md, "One home for the OS") and
/// every wait is a poll(2) bounded by the operation's deadline. Blocking, for one thread at a time: the
/// MN–HAC exchange is lock-step (RFC 6618 §5), so a session never reads and writes concurrently.
public final class TLSSession: @unchecked Sendable {
    public enum Role: Sendable { case client, server }

    public let role: Role
    public let connection: TCPConnection
    let ssl: OpaquePointer
    /// OpenSSL reads the peer's records from here (owned by `ssl`).
    let incoming: OpaquePointer
    /// OpenSSL writes our records here (owned by `ssl`).
    let outgoing: OpaquePointer
    /// Scratch for moving records between the BIOs and the socket (only `flush` and `fill` touch it); a
    /// TLS record is at most 16 KiB plus overhead. Lazy: a server session driven without blocking
    /// (TLSSession+NonBlocking.swift) uses its event loop's one buffer instead, and never allocates this.
    private lazy var scratch = [UInt8](repeating: 0, count: 16 * 1024 + 512)
    /// Records OpenSSL produced that the socket did not take yet (non-blocking use only).
    var pendingOutput: [UInt8] = []
    let peerName: String

    /// Negotiated after the handshake: `TLSv1.3` or `TLSv1.2`.
    public private(set) var protocolVersion = ""
    /// The cipher suite in OpenSSL's naming, e.g. `TLS_AES_256_GCM_SHA384`, `ECDHE-ECDSA-AES256-GCM-SHA384`.
    public private(set) var cipher = ""
    /// The peer's leaf certificate (DER, as sent); nil on the server (clients present none).
    public private(set) var peerCertificate: [UInt8]?
    /// Our own leaf certificate (DER, as sent); nil on the client.
    public private(set) var localCertificate: [UInt8]?
    /// RFC 5929 §4.1 of the server's leaf certificate; equal on both ends. The CB-octets of the `auth`
    /// header (DESIGN.md, "MN ↔ HAC").
    public private(set) var tlsServerEndPoint: [UInt8] = []

    init(context: OpaquePointer, connection: TCPConnection, role: Role) throws(TLSError) {
        self.role = role
        self.connection = connection
        self.peerName = connection.peerAddress.map { "\($0)" } ?? "peer"
        let operation = "TLS setup for \(peerName)"
        guard let ssl = SSL_new(context) else { throw TLSError.openSSL(.configuration, operation) }
        guard let incoming = BIO_new(BIO_s_mem()), let outgoing = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw TLSError.openSSL(.configuration, operation)
        }
        // An empty memory BIO reports "retry" (not end of stream), so OpenSSL asks for more input
        // (BIO_set_mem_eof_return, a macro).
        _ = BIO_ctrl(incoming, BIO_C_SET_BUF_MEM_EOF_RETURN, -1, nil)
        _ = BIO_ctrl(outgoing, BIO_C_SET_BUF_MEM_EOF_RETURN, -1, nil)
        SSL_set_bio(ssl, incoming, outgoing)
        self.ssl = ssl
        self.incoming = incoming
        self.outgoing = outgoing
        if role == .client { SSL_set_connect_state(ssl) } else { SSL_set_accept_state(ssl) }
    }

    deinit { SSL_free(ssl) }

    /// The name check of RFC 6618 §9.2 and SNI, on this connection's verify parameters.
    func configureClient(identity: TLSServerIdentity) throws(TLSError) {
        let operation = "TLS setup for \(peerName)"
        guard let parameters = SSL_get0_param(ssl) else { throw TLSError.openSSL(.configuration, operation) }
        // RFC 6125 without wildcards, and only subjectAltName: never fall back to the subject's CN.
        X509_VERIFY_PARAM_set_hostflags(
            parameters, UInt32(X509_CHECK_FLAG_NO_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT))
        switch identity {
        case .dnsName(let name):
            guard X509_VERIFY_PARAM_set1_host(parameters, name, 0) == 1 else {
                throw TLSError.openSSL(.configuration, operation, fallback: "invalid server name \(name)")
            }
            // SNI (SSL_set_tlsext_host_name, a macro); RFC 6066 §3 allows no IP literals here.
            let named = name.withCString { text in
                SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, Int(TLSEXT_NAMETYPE_host_name), UnsafeMutableRawPointer(mutating: text))
            }
            guard named == 1 else {
                throw TLSError.openSSL(.configuration, operation, fallback: "invalid server name \(name)")
            }
        case .ipAddress(let address):
            guard X509_VERIFY_PARAM_set1_ip_asc(parameters, "\(address)") == 1 else {
                throw TLSError.openSSL(.configuration, operation, fallback: "invalid server address \(address)")
            }
        }
    }

    /// Runs the handshake, then (client) checks the pin and records what was negotiated.
    func handshake(deadline: Deadline, pinnedCertificate: [UInt8]?) throws(TLSError) {
        let operation = "TLS handshake with \(peerName)"
        do {
            _ = try drive(operation, deadline: deadline) { SSL_do_handshake($0) }
        } catch where error.kind == .handshake && role == .client {
            let result = SSL_get_verify_result(ssl)
            if result != X509_V_OK {
                throw TLSError(.verification, operation, detail: String(cString: X509_verify_cert_error_string(result)))
            }
            throw error
        }
        try handshakeFinished(operation, pinnedCertificate: pinnedCertificate)
    }

    /// Records what was negotiated, and (client) checks the pin, once the handshake is complete.
    func handshakeFinished(_ operation: String, pinnedCertificate: [UInt8]?) throws(TLSError) {
        protocolVersion = String(cString: SSL_get_version(ssl))
        if let current = SSL_get_current_cipher(ssl) { cipher = String(cString: SSL_CIPHER_get_name(current)) }
        switch role {
        case .server:
            guard let own = SSL_get_certificate(ssl), let der = derEncoding(own) else {
                throw TLSError.openSSL(.configuration, operation, fallback: "no server certificate")
            }
            localCertificate = der
            tlsServerEndPoint = try ChannelBinding.serverEndPoint(of: own, operation: operation).hash
        case .client:
            do {
                try checkServer(pinnedCertificate: pinnedCertificate, operation: operation)
            } catch {
                // Not a clean close: the HAC must not take this for a finished exchange.
                try? connection.shutdownWrite()
                throw error
            }
        }
    }

    private func checkServer(pinnedCertificate: [UInt8]?, operation: String) throws(TLSError) {
        guard let peer = SSL_get1_peer_certificate(ssl) else {
            throw TLSError(.verification, operation, detail: "the server sent no certificate")
        }
        defer { X509_free(peer) }
        // Belt and braces: SSL_VERIFY_PEER already failed the handshake on any error.
        let result = SSL_get_verify_result(ssl)
        guard result == X509_V_OK else {
            throw TLSError(.verification, operation, detail: String(cString: X509_verify_cert_error_string(result)))
        }
        guard let der = derEncoding(peer) else { throw TLSError.openSSL(.verification, operation) }
        if let pinnedCertificate, der != pinnedCertificate {
            throw TLSError(.verification, operation, detail: "the server's certificate is not the pinned certificate")
        }
        peerCertificate = der
        tlsServerEndPoint = try ChannelBinding.serverEndPoint(of: peer, operation: operation).hash
    }

    /// Reads exactly `count` octets of application data, waiting until `deadline`.
    /// - Throws: ``TLSError`` — `.peerClosed` (naming how many octets had come), `.timeout`, `.socket`,
    ///   `.protocolError`.
    public func readExactly(_ count: Int, deadline: Deadline) throws(TLSError) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let operation = "TLS read of \(count) octets from \(peerName) (\(filled) received)"
            let read = try result.withUnsafeMutableBytes { raw in
                capturing { () throws(TLSError) -> Int32 in
                    let rest = raw.baseAddress.unsafelyUnwrapped + filled
                    let length = Int32(clamping: raw.count - filled)
                    return try drive(operation, deadline: deadline) { SSL_read($0, rest, length) }
                }
            }.get()
            filled += Int(read)
        }
        return result
    }

    /// Writes all of `bytes` as application data, waiting until `deadline` for the socket to take them.
    public func write(_ bytes: [UInt8], deadline: Deadline) throws(TLSError) {
        guard !bytes.isEmpty else { return }
        let operation = "TLS write of \(bytes.count) octets to \(peerName)"
        var offset = 0
        while offset < bytes.count {
            let written = try bytes.withUnsafeBytes { raw in
                capturing { () throws(TLSError) -> Int32 in
                    let rest = raw.baseAddress.unsafelyUnwrapped + offset
                    let length = Int32(clamping: raw.count - offset)
                    return try drive(operation, deadline: deadline) { SSL_write($0, rest, length) }
                }
            }.get()
            offset += Int(written)
        }
    }

    /// Ends the session cleanly: sends close_notify, ends our direction of the TCP stream, then waits
    /// until `deadline` for the peer's close_notify or end of stream (anything else the peer still sends
    /// is discarded). Waiting matters: closing a socket with unread data makes the kernel send a reset,
    /// which can destroy our last message before the peer has read it.
    /// - Throws: ``TLSError`` with `.timeout` when the peer does not close in time (the session is still
    ///   ended on our side), `.socket` when the connection broke.
    public func shutdown(deadline: Deadline) throws(TLSError) {
        let operation = "TLS shutdown with \(peerName)"
        ERR_clear_error()
        _ = SSL_shutdown(ssl)  // queues close_notify in `outgoing`; 1 if the peer's came already
        try flush(operation, deadline: deadline)
        do {
            try connection.shutdownWrite()
        } catch {
            throw TLSError.socket(error, operation)
        }
        if SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN != 0 { return }
        var discarded = [UInt8](repeating: 0, count: 4096)
        while true {
            do {
                _ = try discarded.withUnsafeMutableBytes { raw in
                    capturing { () throws(TLSError) -> Int32 in
                        let base = raw.baseAddress.unsafelyUnwrapped
                        let length = Int32(clamping: raw.count)
                        return try drive(operation, deadline: deadline) { SSL_read($0, base, length) }
                    }
                }.get()
            } catch where error.kind == .peerClosed {
                return
            } catch where error.kind == .protocolError && SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN != 0 {
                return
            }
        }
    }

    // MARK: - Moving records between OpenSSL and the socket

    /// Calls `body` (an SSL_* call returning > 0 on success) until it succeeds: sends what OpenSSL queued,
    /// reads from the socket when it wants input. Returns body's positive result.
    private func drive(
        _ operation: String, deadline: Deadline, _ body: (OpaquePointer) -> Int32
    ) throws(TLSError) -> Int32 {
        while true {
            ERR_clear_error()
            let result = body(ssl)
            let code = result > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl, result)
            // Send what OpenSSL produced, including a fatal alert before we report its error.
            do {
                try flush(operation, deadline: deadline)
            } catch where code == SSL_ERROR_NONE || code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE {
                throw error
            } catch {
                // The call failed anyway; its own error says more than the failed alert delivery.
            }
            switch code {
            case SSL_ERROR_NONE:
                return result
            case SSL_ERROR_WANT_READ:
                try fill(operation, deadline: deadline)
            case SSL_ERROR_WANT_WRITE:
                continue  // memory BIOs never fill up; flushed above
            case SSL_ERROR_ZERO_RETURN:
                throw TLSError(.peerClosed, operation, detail: "the peer sent close_notify")
            case SSL_ERROR_SSL:
                let kind: TLSError.Kind = SSL_is_init_finished(ssl) == 1 ? .protocolError : .handshake
                throw TLSError.openSSL(kind, operation, fallback: "OpenSSL reported an error without a reason")
            default:
                throw TLSError.openSSL(.protocolError, operation, fallback: "SSL_get_error \(code)")
            }
        }
    }

    /// Writes everything OpenSSL has queued in `outgoing` to the socket.
    private func flush(_ operation: String, deadline: Deadline) throws(TLSError) {
        while BIO_ctrl_pending(outgoing) > 0 {
            let count = scratch.withUnsafeMutableBytes { BIO_read(outgoing, $0.baseAddress, Int32(clamping: $0.count)) }
            guard count > 0 else { return }
            let sent = scratch.withUnsafeBytes { raw in
                capturing { () throws(SystemCallError) in
                    try connection.write(UnsafeRawBufferPointer(rebasing: raw[0..<Int(count)]), deadline: deadline)
                }
            }
            if case .failure(let error) = sent { throw TLSError.socket(error, operation) }
        }
    }

    /// Reads what the socket has (waiting until `deadline`) into `incoming`.
    private func fill(_ operation: String, deadline: Deadline) throws(TLSError) {
        let received = scratch.withUnsafeMutableBytes { raw in
            capturing { () throws(SystemCallError) in try connection.read(into: raw, deadline: deadline) }
        }
        let count: Int
        switch received {
        case .success(let value): count = value
        case .failure(let error): throw TLSError.socket(error, operation)
        }
        guard count > 0 else {
            throw TLSError(.peerClosed, operation, detail: "end of stream without close_notify")
        }
        let taken = scratch.withUnsafeBytes { BIO_write(incoming, $0.baseAddress, Int32(count)) }
        guard taken == Int32(count) else { throw TLSError.openSSL(.protocolError, operation, fallback: "BIO_write failed") }
    }
}

/// Runs a typed-throwing body and returns its outcome as a `Result` (Array's `withUnsafeBytes` is
/// `rethrows` with an untyped error; see TernCrypto/TypedThrows.swift).
@inline(__always)
func capturing<Success, Failure: Error>(_ body: () throws(Failure) -> Success) -> Result<Success, Failure> {
    do {
        return .success(try body())
    } catch {
        return .failure(error)
    }
}
