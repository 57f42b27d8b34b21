internal import COpenSSL

/// One OpenSSL `EVP_CIPHER_CTX`, keyed once, used for many packets.
///
/// The key schedule is computed when the context is made; each packet passes only its IV or nonce
/// (CONVENTIONS.md: a full init with cipher and key per packet doubles the cost). Padding is off: the
/// data channel pads as RFC 4303 §2.4 says. Not thread-safe: one context per key and thread.
public final class CipherContext {
    public enum Algorithm: Sendable, CaseIterable {
        case aes128ECB
        case aes128CBC
        case tripleDESCBC
        case aes128GCM
        case aes256GCM
        case chacha20Poly1305

        /// The OpenSSL 3 algorithm name given to `EVP_CIPHER_fetch`.
        var openSSLName: String {
            switch self {
            case .aes128ECB: "AES-128-ECB"
            case .aes128CBC: "AES-128-CBC"
            case .tripleDESCBC: "DES-EDE3-CBC"
            case .aes128GCM: "AES-128-GCM"
            case .aes256GCM: "AES-256-GCM"
            case .chacha20Poly1305: "ChaCha20-Poly1305"
            }
        }

        public var keyLength: Int {
            switch self {
            case .aes128ECB, .aes128CBC, .aes128GCM: 16
            case .tripleDESCBC: 24
            case .aes256GCM, .chacha20Poly1305: 32
            }
        }

        /// Octets the block modes work in; 1 for the AEADs (both are stream modes).
        public var blockSize: Int {
            switch self {
            case .aes128ECB, .aes128CBC: 16
            case .tripleDESCBC: 8
            case .aes128GCM, .aes256GCM, .chacha20Poly1305: 1
            }
        }

        public var isAEAD: Bool { blockSize == 1 }

        /// Octets of IV (CBC) or nonce (AEAD): 12 for both AEADs here (RFC 8750 / RFC 7634 nonce).
        public var ivLength: Int {
            switch self {
            case .aes128ECB: 0
            case .aes128CBC: 16
            case .tripleDESCBC: 8
            case .aes128GCM, .aes256GCM, .chacha20Poly1305: 12
            }
        }

        /// The AEAD tag length Tern uses (DESIGN.md: 16-octet tag).
        public static let tagLength = 16

        /// The fetched implementation, once per process (`EVP_CIPHER_fetch` is thread-safe; an explicit
        /// fetch spares OpenSSL 3 an implicit look-up on every init).
        var implementation: OpaquePointer? {
            switch self {
            case .aes128ECB: FetchedCiphers.aes128ECB
            case .aes128CBC: FetchedCiphers.aes128CBC
            case .tripleDESCBC: FetchedCiphers.tripleDESCBC
            case .aes128GCM: FetchedCiphers.aes128GCM
            case .aes256GCM: FetchedCiphers.aes256GCM
            case .chacha20Poly1305: FetchedCiphers.chacha20Poly1305
            }
        }
    }

    public enum Direction: Sendable {
        case encrypt
        case decrypt

        var openSSLValue: Int32 { self == .encrypt ? 1 : 0 }
    }

    public let algorithm: Algorithm
    public let direction: Direction
    private let context: OpaquePointer

    /// Builds and keys a context.
    ///
    /// - Throws: ``CryptoError`` when the key length is wrong for `algorithm` or OpenSSL refuses.
    ///
    /// - Parameter nonceLength: for the AEADs only, a nonce length other than the 12 octets Tern uses
    ///   (the GCM specification's test cases also use 8 and 60).
    public init(
        _ algorithm: Algorithm, direction: Direction, key: UnsafeRawBufferPointer, nonceLength: Int? = nil
    ) throws(CryptoError) {
        self.context = try Self.makeContext(algorithm, direction, key, nonceLength).get()
        self.algorithm = algorithm
        self.direction = direction
    }

    public init(_ algorithm: Algorithm, direction: Direction, key: [UInt8], nonceLength: Int? = nil) throws(CryptoError) {
        self.context = try key.withUnsafeBytes { Self.makeContext(algorithm, direction, $0, nonceLength) }.get()
        self.algorithm = algorithm
        self.direction = direction
    }

    private static func makeContext(
        _ algorithm: Algorithm, _ direction: Direction, _ key: UnsafeRawBufferPointer, _ nonceLength: Int?
    ) -> Result<OpaquePointer, CryptoError> {
        guard key.count == algorithm.keyLength, let keyBase = key.baseAddress else {
            return .failure(
                CryptoError(
                    "\(algorithm.openSSLName) key", detail: "needs \(algorithm.keyLength) octets, got \(key.count)"))
        }
        guard let implementation = algorithm.implementation else {
            return .failure(CryptoError("EVP_CIPHER_fetch(\(algorithm.openSSLName))"))
        }
        guard let context = EVP_CIPHER_CTX_new() else { return .failure(CryptoError("EVP_CIPHER_CTX_new")) }
        let keyed: Bool
        let keyPointer = keyBase.assumingMemoryBound(to: UInt8.self)
        if let nonceLength, algorithm.isAEAD {
            // Choose the cipher, set the nonce length, then key with no cipher given: passing the cipher
            // again would make OpenSSL 3 rebuild its context and forget the length.
            keyed =
                EVP_CipherInit_ex2(context, implementation, nil, nil, direction.openSSLValue, nil) == 1
                && EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_SET_IVLEN, Int32(nonceLength), nil) == 1
                && EVP_CipherInit_ex2(context, nil, keyPointer, nil, direction.openSSLValue, nil) == 1
        } else {
            keyed = EVP_CipherInit_ex2(context, implementation, keyPointer, nil, direction.openSSLValue, nil) == 1
        }
        guard keyed,
            EVP_CIPHER_CTX_set_padding(context, 0) == 1
        else {
            EVP_CIPHER_CTX_free(context)
            return .failure(CryptoError("EVP_CipherInit_ex2(\(algorithm.openSSLName))"))
        }
        return .success(context)
    }

    deinit {
        // EVP_CIPHER_CTX_free cleanses the key schedule.
        EVP_CIPHER_CTX_free(context)
    }

    /// Encrypts or decrypts `data` in place with a block mode (CBC or ECB), no padding.
    ///
    /// - Parameters:
    ///   - iv: the IV for this message, or nil to continue the CBC chain from the previous call (or, for
    ///     ECB, nothing).
    ///   - data: a whole number of blocks.
    @inline(__always)
    public func transform(iv: UnsafeRawPointer?, data: UnsafeMutableRawBufferPointer) throws(CryptoError) {
        guard let base = data.baseAddress else { return }
        try transform(iv: iv, from: UnsafeRawPointer(base), to: base, count: data.count)
    }

    /// Encrypts or decrypts `count` octets from `input` to `output` with a block mode, no padding. The two
    /// may be the same memory, but must not otherwise overlap.
    @inline(__always)
    public func transform(
        iv: UnsafeRawPointer?, from input: UnsafeRawPointer, to output: UnsafeMutableRawPointer, count: Int
    ) throws(CryptoError) {
        if let iv {
            guard EVP_CipherInit_ex2(context, nil, nil, iv.assumingMemoryBound(to: UInt8.self), -1, nil) == 1
            else { throw CryptoError("EVP_CipherInit_ex2 (IV)") }
        }
        guard count > 0 else { return }
        var written: Int32 = 0
        guard
            EVP_CipherUpdate(
                context, output.assumingMemoryBound(to: UInt8.self), &written,
                input.assumingMemoryBound(to: UInt8.self), Int32(count)) == 1,
            Int(written) == count
        else { throw CryptoError("EVP_CipherUpdate(\(algorithm.openSSLName))") }
    }

    /// AEAD encryption in place: `data` becomes ciphertext and the 16-octet tag is written at `tag`.
    @inline(__always)
    public func seal(
        nonce: UnsafeRawPointer, aad: UnsafeRawBufferPointer, data: UnsafeMutableRawBufferPointer,
        tag: UnsafeMutableRawPointer
    ) throws(CryptoError) {
        try aeadBegin(nonce: nonce, aad: aad, data: data)
        guard finish() == 1,
            EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_GET_TAG, Int32(Algorithm.tagLength), tag) == 1
        else { throw CryptoError("AEAD seal (\(algorithm.openSSLName))") }
    }

    /// AEAD decryption in place. Returns false when the tag does not verify; `data` then holds garbage
    /// that the caller must drop.
    @inline(__always)
    public func open(
        nonce: UnsafeRawPointer, aad: UnsafeRawBufferPointer, data: UnsafeMutableRawBufferPointer,
        tag: UnsafeRawPointer
    ) throws(CryptoError) -> Bool {
        guard EVP_CIPHER_CTX_ctrl(
            context, EVP_CTRL_AEAD_SET_TAG, Int32(Algorithm.tagLength), UnsafeMutableRawPointer(mutating: tag)) == 1
        else { throw CryptoError("EVP_CTRL_AEAD_SET_TAG") }
        try aeadBegin(nonce: nonce, aad: aad, data: data)
        if finish() != 1 {
            // A forged packet is not a library error: leave no trace in this thread's error queue.
            ERR_clear_error()
            return false
        }
        return true
    }

    /// EVP_CipherFinal_ex for a stream AEAD: it writes no octets, but OpenSSL wants somewhere to write them.
    @inline(__always)
    private func finish() -> Int32 {
        var written: Int32 = 0
        var unused: UInt8 = 0
        return EVP_CipherFinal_ex(context, &unused, &written)
    }

    @inline(__always)
    private func aeadBegin(
        nonce: UnsafeRawPointer, aad: UnsafeRawBufferPointer, data: UnsafeMutableRawBufferPointer
    ) throws(CryptoError) {
        guard EVP_CipherInit_ex2(context, nil, nil, nonce.assumingMemoryBound(to: UInt8.self), -1, nil) == 1
        else { throw CryptoError("EVP_CipherInit_ex2 (nonce)") }
        var written: Int32 = 0
        if let aadBase = aad.baseAddress, aad.count > 0 {
            guard EVP_CipherUpdate(
                context, nil, &written, aadBase.assumingMemoryBound(to: UInt8.self), Int32(aad.count)) == 1
            else { throw CryptoError("EVP_CipherUpdate (AAD)") }
        }
        if let base = data.baseAddress?.assumingMemoryBound(to: UInt8.self), data.count > 0 {
            guard EVP_CipherUpdate(context, base, &written, base, Int32(data.count)) == 1,
                Int(written) == data.count
            else { throw CryptoError("EVP_CipherUpdate(\(algorithm.openSSLName))") }
        }
    }
}

/// The cipher implementations, fetched once per process. Read-only after their one-time initialisation
/// (Swift's `static let` is initialised exactly once, thread-safely), so sharing them is safe.
enum FetchedCiphers {
    private static func fetch(_ name: String) -> OpaquePointer? { EVP_CIPHER_fetch(nil, name, nil) }
    nonisolated(unsafe) static let aes128ECB = fetch("AES-128-ECB")
    nonisolated(unsafe) static let aes128CBC = fetch("AES-128-CBC")
    nonisolated(unsafe) static let tripleDESCBC = fetch("DES-EDE3-CBC")
    nonisolated(unsafe) static let aes128GCM = fetch("AES-128-GCM")
    nonisolated(unsafe) static let aes256GCM = fetch("AES-256-GCM")
    nonisolated(unsafe) static let chacha20Poly1305 = fetch("ChaCha20-Poly1305")
}
