internal import COpenSSL

/// HMAC (RFC 2104) through OpenSSL's EVP_MAC, keyed once.
///
/// Each message re-initialises the context with no key, which makes OpenSSL reuse the precomputed
/// inner and outer pads instead of hashing the key again. Used for HMAC-SHA1-96 (RFC 2404) on the data
/// channel and HMAC-SHA256 for the MN–HAC `auth` header (RFC 6618 §5.5.5). Not thread-safe.
public final class HMACContext {
    public enum Digest: Sendable {
        case sha1
        case sha256

        var openSSLName: String { self == .sha1 ? "SHA1" : "SHA256" }

        /// Octets of the full MAC.
        public var length: Int { self == .sha1 ? 20 : 32 }
    }

    /// The longest MAC any digest here produces; callers size stack scratch by it.
    public static let maximumLength = 32

    public let digest: Digest
    private let context: OpaquePointer

    public init(_ digest: Digest, key: UnsafeRawBufferPointer) throws(CryptoError) {
        self.context = try Self.makeContext(digest, key).get()
        self.digest = digest
    }

    public init(_ digest: Digest, key: [UInt8]) throws(CryptoError) {
        self.context = try key.withUnsafeBytes { Self.makeContext(digest, $0) }.get()
        self.digest = digest
    }

    private static func makeContext(_ digest: Digest, _ key: UnsafeRawBufferPointer) -> Result<OpaquePointer, CryptoError> {
        guard let mac = FetchedMAC.hmac else { return .failure(CryptoError("EVP_MAC_fetch(HMAC)")) }
        guard let context = EVP_MAC_CTX_new(mac) else { return .failure(CryptoError("EVP_MAC_CTX_new")) }
        // A zero-length key still needs a non-null pointer: null means "keep the previous key".
        var emptyKey: UInt8 = 0
        let initialised = withUnsafeMutablePointer(to: &emptyKey) { emptyPointer in
            digest.openSSLName.withCString { name in
                "digest".withCString { parameterName in
                    var parameters = [
                        OSSL_PARAM_construct_utf8_string(parameterName, UnsafeMutablePointer(mutating: name), 0),
                        OSSL_PARAM_construct_end(),
                    ]
                    let keyPointer = key.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(emptyPointer)
                    return EVP_MAC_init(context, keyPointer, key.count, &parameters)
                }
            }
        }
        guard initialised == 1 else {
            EVP_MAC_CTX_free(context)
            return .failure(CryptoError("EVP_MAC_init(HMAC-\(digest.openSSLName))"))
        }
        return .success(context)
    }

    deinit {
        // EVP_MAC_CTX_free cleanses the key material it holds.
        EVP_MAC_CTX_free(context)
    }

    /// Writes the full MAC of `data` (``Digest/length`` octets) at `output`.
    @inline(__always)
    public func authenticate(_ data: UnsafeRawBufferPointer, into output: UnsafeMutableRawPointer) throws(CryptoError) {
        var written = 0
        guard EVP_MAC_init(context, nil, 0, nil) == 1,
            EVP_MAC_update(context, data.baseAddress?.assumingMemoryBound(to: UInt8.self), data.count) == 1,
            EVP_MAC_final(context, output.assumingMemoryBound(to: UInt8.self), &written, digest.length) == 1,
            written == digest.length
        else { throw CryptoError("HMAC-\(digest.openSSLName)") }
    }

    /// The full MAC of `data`, for the control plane and tests (allocates).
    public func authenticate(_ data: [UInt8]) throws(CryptoError) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: digest.length)
        try data.withUnsafeBytes { input in
            output.withUnsafeMutableBytes { out in
                capturing { () throws(CryptoError) in
                    guard let outBase = out.baseAddress else { throw CryptoError("HMAC output") }
                    try authenticate(input, into: outBase)
                }
            }
        }.get()
        return output
    }
}

/// The HMAC implementation, fetched once per process and read-only after that.
enum FetchedMAC {
    nonisolated(unsafe) static let hmac = EVP_MAC_fetch(nil, "HMAC", nil)
}
