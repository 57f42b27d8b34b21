internal import COpenSSL
import TernOS
#if canImport(Glibc)
import Glibc
#endif

/// The `tls-server-end-point` channel binding (RFC 5929 §4.1) that the MN–HAC `auth` header covers
/// (RFC 6618 §5.5.5; DESIGN.md "MN ↔ HAC", CB-octets).
public enum ChannelBinding {
    /// The hash of `certificate` (DER, exactly as sent in the handshake) with the hash function of the
    /// certificate's signature algorithm; MD5 and SHA-1 are replaced by SHA-256 (RFC 5929 §4.1). For
    /// RSA-PSS the PSS hash is used (DESIGN.md, "Certificates"). Raw hash octets, no prefix.
    /// - Throws: ``TLSError/Kind/verification`` when the DER does not parse, or the signature algorithm
    ///   has no single hash (Ed25519, Ed448): such certificates are refused on both sides.
    public static func tlsServerEndPoint(certificate der: [UInt8]) throws(TLSError) -> [UInt8] {
        let certificate = try parseDER(der, operation: "tls-server-end-point")
        defer { X509_free(certificate) }
        return try serverEndPoint(of: certificate, operation: "tls-server-end-point").hash
    }

    /// The name of the hash ``tlsServerEndPoint(certificate:)`` uses for `certificate`, e.g. `SHA384`.
    public static func hashName(certificate der: [UInt8]) throws(TLSError) -> String {
        let certificate = try parseDER(der, operation: "tls-server-end-point")
        defer { X509_free(certificate) }
        return try serverEndPoint(of: certificate, operation: "tls-server-end-point").hashName
    }

    /// RFC 5929 §4.1 for a parsed certificate. i2d_X509 of a certificate OpenSSL parsed (from PEM, or
    /// from the peer's Certificate message) returns the cached original encoding: the octets as sent.
    static func serverEndPoint(
        of certificate: OpaquePointer, operation: String
    ) throws(TLSError) -> (hash: [UInt8], hashName: String) {
        var digestNID: Int32 = 0
        var keyNID: Int32 = 0
        var securityBits: Int32 = 0
        var flags: UInt32 = 0
        guard X509_get_signature_info(certificate, &digestNID, &keyNID, &securityBits, &flags) == 1 else {
            throw TLSError.openSSL(.verification, operation, fallback: "cannot read the certificate's signature algorithm")
        }
        guard digestNID != NID_undef else {
            let algorithm = String(cString: OBJ_nid2sn(X509_get_signature_nid(certificate)))
            throw TLSError(
                .verification, operation,
                detail: "certificate is signed with \(algorithm), which has no single hash function, so "
                    + "tls-server-end-point (RFC 5929 §4.1) is undefined; Ed25519/Ed448 certificates are refused")
        }
        // RFC 5929 §4.1: "if the certificate's signatureAlgorithm uses MD5 or SHA-1, then use SHA-256".
        if digestNID == NID_md5 || digestNID == NID_sha1 || digestNID == NID_md5_sha1 { digestNID = NID_sha256 }
        // EVP_get_digestbynid is a macro over this.
        guard let digest = EVP_get_digestbyname(OBJ_nid2sn(digestNID)) else {
            let name = String(cString: OBJ_nid2sn(digestNID))
            throw TLSError(.verification, operation, detail: "the certificate's signature hash \(name) is not available")
        }
        guard let der = derEncoding(certificate) else {
            throw TLSError.openSSL(.verification, operation, fallback: "cannot encode the certificate")
        }
        var hash = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let ok = der.withUnsafeBytes { raw in
            hash.withUnsafeMutableBufferPointer { EVP_Digest(raw.baseAddress, raw.count, $0.baseAddress, &length, digest, nil) }
        }
        guard ok == 1 else { throw TLSError.openSSL(.verification, operation, fallback: "EVP_Digest failed") }
        return (Array(hash.prefix(Int(length))), String(cString: OBJ_nid2sn(digestNID)))
    }
}

/// The DER encoding of `certificate` (i2d_X509: the cached original encoding for a parsed one).
func derEncoding(_ certificate: OpaquePointer) -> [UInt8]? {
    let length = i2d_X509(certificate, nil)
    guard length > 0 else { return nil }
    var der = [UInt8](repeating: 0, count: Int(length))
    let written = der.withUnsafeMutableBufferPointer { buffer -> Int32 in
        var cursor: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
        return i2d_X509(certificate, &cursor)
    }
    return written == length ? der : nil
}

/// Parses one DER certificate; the caller frees it with X509_free.
func parseDER(_ der: [UInt8], operation: String) throws(TLSError) -> OpaquePointer {
    let parsed = der.withUnsafeBufferPointer { buffer -> OpaquePointer? in
        var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
        return d2i_X509(nil, &cursor, buffer.count)
    }
    guard let parsed else { throw TLSError.openSSL(.verification, operation, fallback: "certificate is not valid DER") }
    return parsed
}

/// The certificates in PEM text, in file order (leaf first for a chain file). The caller frees each.
func parsePEMCertificates(_ pem: [UInt8], path: String, operation: String) throws(TLSError) -> [OpaquePointer] {
    let bio = pem.withUnsafeBytes { BIO_new_mem_buf($0.baseAddress, Int32(clamping: $0.count)) }
    guard let bio else { throw TLSError.openSSL(.configuration, operation, fallback: "BIO_new_mem_buf failed") }
    defer { BIO_free(bio) }
    var certificates: [OpaquePointer] = []
    while let certificate = PEM_read_bio_X509(bio, nil, nil, nil) {
        certificates.append(certificate)
    }
    // The loop ends on "no start line" at the end of the text: expected, not an error.
    ERR_clear_error()
    guard !certificates.isEmpty else {
        throw TLSError(.configuration, operation, detail: "\(path) holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
    }
    return certificates
}

/// Files Tern reads for TLS, through the one syscall wrapper (not OpenSSL's own file BIOs).
enum PEMFile {
    /// Certificates and keys are small; a bigger file is a mistake, not a chain.
    static let maximumLength = 1 << 20

    /// Reads `path`. With `privateKey`, through TernOS' one helper for secret files: a regular file (not a
    /// symbolic link), owned by root, with no access for group or others (DESIGN.md: files holding keys are
    /// readable by root only), checked on the opened descriptor. A certificate may be reached through a link.
    static func read(_ path: String, privateKey: Bool, operation: String) throws(TLSError) -> [UInt8] {
        do {
            return privateKey
                ? try FileTrust.readSecret(path, noun: "key file", limit: maximumLength)
                : try FileTrust.readRegularFile(path, limit: maximumLength)
        } catch {
            let detail =
                switch error {
                case .cannotOpen(let error), .system(let error): error.description
                case .refused(let reason): "\(path): \(reason)"
                case .tooLarge(let size, let limit): "\(path) is \(size) octets, more than \(limit)"
                }
            throw TLSError(.configuration, operation, detail: detail)
        }
    }
}
