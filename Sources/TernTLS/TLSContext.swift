internal import COpenSSL
public import TernOS
public import TernProtocol
#if canImport(Glibc)
import Glibc
#endif

/// A TLS protocol version Tern speaks. RFC 6618 needs TLS; Tern allows 1.2 and 1.3 only.
public enum TLSVersion: Int32, Sendable, Comparable, CustomStringConvertible {
    case tls12 = 0x0303  // TLS1_2_VERSION
    case tls13 = 0x0304  // TLS1_3_VERSION

    public static func < (lhs: TLSVersion, rhs: TLSVersion) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { self == .tls12 ? "TLSv1.2" : "TLSv1.3" }
}

/// The options every Tern TLS context gets, client or server: versions, no renegotiation (RFC 6618 §5 as
/// DESIGN.md reads it), no compression (CRIME), no session tickets (a HAC sees few, short connections;
/// resumption would buy nothing and keep ticket keys in memory).
private func makeContext(
    _ method: OpaquePointer?, minimum: TLSVersion, maximum: TLSVersion, operation: String
) throws(TLSError) -> OpaquePointer {
    guard minimum <= maximum else {
        throw TLSError(.configuration, operation, detail: "minimum version \(minimum) is above maximum \(maximum)")
    }
    guard let context = SSL_CTX_new(method) else { throw TLSError.openSSL(.configuration, operation) }
    // SSL_CTX_set_min/max_proto_version are macros over SSL_CTX_ctrl.
    guard SSL_CTX_ctrl(context, SSL_CTRL_SET_MIN_PROTO_VERSION, Int(minimum.rawValue), nil) == 1,
        SSL_CTX_ctrl(context, SSL_CTRL_SET_MAX_PROTO_VERSION, Int(maximum.rawValue), nil) == 1
    else {
        SSL_CTX_free(context)
        throw TLSError.openSSL(.configuration, operation, fallback: "cannot set protocol versions")
    }
    _ = SSL_CTX_set_options(
        context, tern_ssl_op_no_renegotiation() | tern_ssl_op_no_compression() | tern_ssl_op_no_ticket())
    _ = SSL_CTX_set_num_tickets(context, 0)  // TLS 1.3: send no NewSessionTicket at all
    _ = SSL_CTX_ctrl(context, SSL_CTRL_SET_SESS_CACHE_MODE, Int(SSL_SESS_CACHE_OFF), nil)
    // SSL_CTX_set_mode (a macro): give a session's record buffers back while it waits, so thousands of
    // idle or slow connections on the controller's event loop do not hold ~34 KiB each.
    _ = SSL_CTX_ctrl(context, SSL_CTRL_MODE, Int(SSL_MODE_RELEASE_BUFFERS), nil)
    return context
}

/// The HAC's side: a certificate chain and private key, shared by every connection.
///
/// Model: blocking (``accept(_:deadline:)``, each operation bounded by a deadline), or driven by an event
/// loop without blocking (``session(for:)`` and TLSSession+NonBlocking.swift, as the controller does).
/// A HAC handles few and short exchanges (four messages for PSK); a caller that blocks may run
/// ``accept(_:deadline:)`` in a simple loop, or hand each ``TCPConnection`` to a thread of its own;
/// the context is immutable after init and OpenSSL's `SSL_CTX` is safe to share across threads.
public final class TLSServerContext: @unchecked Sendable {
    let context: OpaquePointer
    /// The leaf certificate (DER), as sent in every handshake.
    public let certificate: [UInt8]
    /// RFC 5929 §4.1 of ``certificate``: the same for every connection.
    public let tlsServerEndPoint: [UInt8]

    /// Loads the chain (PEM, leaf first) and the private key (PEM, unencrypted, in a root-only file).
    /// - Parameters:
    ///   - certificateChainFile: PEM certificates, the server's first, then intermediates (no root needed).
    ///   - privateKeyFile: the leaf's key; the file must be owned by root with mode 0600 or stricter.
    /// - Throws: ``TLSError/Kind/configuration``: unreadable files, a key file others may read, a key that
    ///   does not match, or a certificate signed with Ed25519/Ed448 (no tls-server-end-point).
    public init(
        certificateChainFile: String, privateKeyFile: String,
        minimumVersion: TLSVersion = .tls12, maximumVersion: TLSVersion = .tls13
    ) throws(TLSError) {
        let operation = "TLS server setup (\(certificateChainFile), \(privateKeyFile))"
        let context = try makeContext(TLS_server_method(), minimum: minimumVersion, maximum: maximumVersion, operation: operation)
        do {
            let (leaf, endPoint) = try Self.loadCredentials(
                context, chain: certificateChainFile, key: privateKeyFile)
            self.context = context
            self.certificate = leaf
            self.tlsServerEndPoint = endPoint
        } catch {
            SSL_CTX_free(context)
            throw error
        }
    }

    deinit { SSL_CTX_free(context) }

    private static func loadCredentials(
        _ context: OpaquePointer, chain: String, key: String
    ) throws(TLSError) -> ([UInt8], [UInt8]) {
        let chainOperation = "load certificate chain \(chain)"
        let pem = try PEMFile.read(chain, privateKey: false, operation: chainOperation)
        let certificates = try parsePEMCertificates(pem, path: chain, operation: chainOperation)
        defer { certificates.forEach { X509_free($0) } }
        let leaf = certificates[0]
        let endPoint: [UInt8]
        do {
            endPoint = try ChannelBinding.serverEndPoint(of: leaf, operation: chainOperation).hash
        } catch {
            throw TLSError(.configuration, error.operation, detail: error.detail)
        }
        guard let leafDER = derEncoding(leaf) else { throw TLSError.openSSL(.configuration, chainOperation) }
        guard SSL_CTX_use_certificate(context, leaf) == 1 else { throw TLSError.openSSL(.configuration, chainOperation) }
        for intermediate in certificates.dropFirst() {
            // SSL_CTX_add1_chain_cert is a macro over SSL_CTX_ctrl; add1 takes its own reference.
            guard SSL_CTX_ctrl(context, SSL_CTRL_CHAIN_CERT, 1, UnsafeMutableRawPointer(intermediate)) == 1 else {
                throw TLSError.openSSL(.configuration, chainOperation)
            }
        }

        let keyOperation = "load private key \(key)"
        var keyPEM = try PEMFile.read(key, privateKey: true, operation: keyOperation)
        defer { keyPEM.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress, $0.count) } }
        let bio = keyPEM.withUnsafeBytes { BIO_new_mem_buf($0.baseAddress, Int32(clamping: $0.count)) }
        guard let bio else { throw TLSError.openSSL(.configuration, keyOperation) }
        defer { BIO_free(bio) }
        // A password callback that gives none: OpenSSL's default would prompt on the terminal.
        let privateKey = PEM_read_bio_PrivateKey(bio, nil, { _, _, _, _ in 0 }, nil)
        guard let privateKey else {
            throw TLSError.openSSL(
                .configuration, keyOperation,
                fallback: "no unencrypted PEM private key found (encrypted keys are not supported)")
        }
        defer { EVP_PKEY_free(privateKey) }
        guard SSL_CTX_use_PrivateKey(context, privateKey) == 1 else { throw TLSError.openSSL(.configuration, keyOperation) }
        guard SSL_CTX_check_private_key(context) == 1 else {
            throw TLSError.openSSL(.configuration, keyOperation, fallback: "the key does not match the certificate in \(chain)")
        }
        return (leafDER, endPoint)
    }

    /// Runs the server side of the handshake on an accepted connection, until `deadline`.
    /// - Throws: ``TLSError`` — `.handshake` (with OpenSSL's reason, e.g. the client's alert),
    ///   `.timeout`, `.peerClosed`, `.socket`.
    /// A server session on `connection` whose handshake has not started: an event loop drives it with
    /// ``TLSSession/continueHandshake(scratch:)`` (TLSSession+NonBlocking.swift).
    public func session(for connection: TCPConnection) throws(TLSError) -> TLSSession {
        try TLSSession(context: context, connection: connection, role: .server)
    }

    public func accept(_ connection: TCPConnection, deadline: Deadline) throws(TLSError) -> TLSSession {
        let session = try TLSSession(context: context, connection: connection, role: .server)
        try session.handshake(deadline: deadline, pinnedCertificate: nil)
        return session
    }
}

/// How the MN decides to trust the HAC's certificate (RFC 6618 §9.2).
public enum TLSTrust: Sendable, Hashable {
    /// A chain to one of the CA certificates in this PEM file.
    case certificateAuthorities(file: String)
    /// Exactly this certificate (PEM): the peer's leaf must equal it octet for octet. It is also the
    /// only trust anchor OpenSSL verifies against (with X509_V_FLAG_PARTIAL_CHAIN), so validity dates
    /// and the name are still checked.
    case pinnedCertificate(file: String)
}

/// The name the MN expects in the HAC's certificate: a dNSName or iPAddress subjectAltName (RFC 6125
/// as RFC 6618 §9.2 asks). No wildcards; the subject CN is never consulted.
public enum TLSServerIdentity: Sendable, Hashable, CustomStringConvertible {
    case dnsName(String)
    case ipAddress(IPAddress)

    /// An IP address if `text` is one, else a DNS name.
    public init(_ text: String) {
        if let address = IPAddress(text) { self = .ipAddress(address) } else { self = .dnsName(text) }
    }

    public var description: String {
        switch self {
        case .dnsName(let name): name
        case .ipAddress(let address): "\(address)"
        }
    }
}

/// The MN's side: whom it trusts and which name it expects. Immutable after init; share freely.
public final class TLSClientContext: @unchecked Sendable {
    let context: OpaquePointer
    public let serverIdentity: TLSServerIdentity
    /// The pinned certificate's DER, when ``TLSTrust/pinnedCertificate(file:)``.
    let pinned: [UInt8]?

    /// - Parameters:
    ///   - trust: a CA file or a pinned certificate.
    ///   - serverIdentity: the HAC's DNS name or IP address, checked against the subjectAltName.
    ///   - maximumVersion: `.tls12` to cap the client (interop with a TLS 1.2-only HAC).
    public init(
        trust: TLSTrust, serverIdentity: TLSServerIdentity,
        minimumVersion: TLSVersion = .tls12, maximumVersion: TLSVersion = .tls13
    ) throws(TLSError) {
        let operation = "TLS client setup"
        let context = try makeContext(TLS_client_method(), minimum: minimumVersion, maximum: maximumVersion, operation: operation)
        do {
            pinned = try Self.loadTrust(context, trust)
        } catch {
            SSL_CTX_free(context)
            throw error
        }
        self.context = context
        self.serverIdentity = serverIdentity
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
    }

    deinit { SSL_CTX_free(context) }

    /// Fills the context's X509_STORE from PEM read through TernOS: the same as
    /// SSL_CTX_load_verify_locations(file) (which adds each certificate of the file to the store), but the
    /// file is opened through SystemCall like every other file.
    private static func loadTrust(_ context: OpaquePointer, _ trust: TLSTrust) throws(TLSError) -> [UInt8]? {
        let path: String
        switch trust {
        case .certificateAuthorities(let file): path = file
        case .pinnedCertificate(let file): path = file
        }
        let operation = "load trusted certificates \(path)"
        let pem = try PEMFile.read(path, privateKey: false, operation: operation)
        let certificates = try parsePEMCertificates(pem, path: path, operation: operation)
        defer { certificates.forEach { X509_free($0) } }
        guard let store = SSL_CTX_get_cert_store(context) else { throw TLSError.openSSL(.configuration, operation) }
        if case .pinnedCertificate = trust {
            guard certificates.count == 1 else {
                throw TLSError(.configuration, operation, detail: "a pinned certificate file must hold exactly one certificate")
            }
            // The pin must itself be usable as a channel binding.
            do {
                _ = try ChannelBinding.serverEndPoint(of: certificates[0], operation: operation)
            } catch {
                throw TLSError(.configuration, error.operation, detail: error.detail)
            }
            // A pinned leaf is rarely self-issued by a CA OpenSSL would accept as a root: let the chain
            // end at it (PARTIAL_CHAIN). That the leaf is exactly the pin is checked after verification.
            _ = X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(context), UInt(X509_V_FLAG_PARTIAL_CHAIN))
        }
        for certificate in certificates {
            guard X509_STORE_add_cert(store, certificate) == 1 else { throw TLSError.openSSL(.configuration, operation) }
        }
        if case .pinnedCertificate = trust { return derEncoding(certificates[0]) }
        return nil
    }

    /// Runs the client side of the handshake on a connected socket, until `deadline`, and verifies the
    /// server: chain (CA or pin), name (RFC 6125 without wildcards), exact pin, a signature with one hash.
    /// - Throws: ``TLSError`` — `.verification` (with X509_verify_cert_error_string's reason, e.g.
    ///   `hostname mismatch`, `unable to get local issuer certificate`), `.handshake`, `.timeout`,
    ///   `.peerClosed`, `.socket`.
    public func connect(_ connection: TCPConnection, deadline: Deadline) throws(TLSError) -> TLSSession {
        let session = try TLSSession(context: context, connection: connection, role: .client)
        try session.configureClient(identity: serverIdentity)
        try session.handshake(deadline: deadline, pinnedCertificate: pinned)
        return session
    }

    /// Connects TCP to `address` and runs ``connect(_:deadline:)``, both within `deadline`. A
    /// `firewallMark` goes on the TCP socket before it connects (``TCPConnection/setFirewallMark(_:)``).
    public func connect(
        to address: SocketAddress, deadline: Deadline, firewallMark: UInt32? = nil
    ) throws(TLSError) -> TLSSession {
        let connection: TCPConnection
        do {
            connection = try TCPConnection.connect(to: address, deadline: deadline, firewallMark: firewallMark)
        } catch {
            throw TLSError.socket(error, "connect to HAC \(address)")
        }
        return try connect(connection, deadline: deadline)
    }
}
