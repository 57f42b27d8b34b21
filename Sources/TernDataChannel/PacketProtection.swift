internal import TernCrypto
internal import TernProtocol

/// The integrity transform of a non-AEAD suite.
enum IntegrityTransform {
    case hmacSHA1(HMACContext)
    case aesXCBC(AESXCBCMAC)

    init(_ integrity: Ciphersuite.Integrity, key: [UInt8]) throws(CryptoError) {
        switch integrity {
        case .hmacSHA1_96: self = .hmacSHA1(try HMACContext(.sha1, key: key))
        case .aesXCBCMAC96: self = .aesXCBC(try AESXCBCMAC(key: key))
        case .combined: throw CryptoError("integrity transform", detail: "an AEAD suite has no separate MAC")
        }
    }

    /// Writes the full MAC of `data` at `output` (at least `HMACContext.maximumLength` octets); the ICV
    /// is its first 12.
    @inline(__always)
    func compute(over data: UnsafeRawBufferPointer, into output: UnsafeMutableRawPointer) throws(CryptoError) {
        switch self {
        case .hmacSHA1(let context): try context.authenticate(data, into: output)
        case .aesXCBC(let context): try context.authenticate(data, into: output)
        }
    }
}

/// One direction's cryptographic state: contexts keyed once, reused for every packet.
enum PacketProtection {
    /// AEAD with the implicit nonce salt ‖ 0x00000000 ‖ Seq (RFC 8750; DESIGN.md "AEAD nonce").
    case aead(CipherContext, salt: UInt32)
    /// Encrypt-then-MAC: CBC encryption with an explicit IV, then an ICV over header, IV and ciphertext.
    /// `ivPrefix` is the random, per-SA part of the block encrypted to make each IV (see `sealCBC`).
    case cbc(CipherContext, IntegrityTransform, ivPrefix: [UInt8])
    /// NULL encryption (RFC 2410), integrity only.
    case null(IntegrityTransform)

    /// One protection per crypto lane, each with contexts of its own (an `EVP_CIPHER_CTX` is not
    /// thread-safe), all keyed alike. CBC lanes share one IV prefix, so every lane seals a packet into
    /// the same octets.
    static func lanes(
        _ count: Int, suite: Ciphersuite, keys: DirectionalKeys, direction: CipherContext.Direction
    ) throws(CryptoError) -> [PacketProtection] {
        let first = try PacketProtection(suite: suite, keys: keys, direction: direction, ivPrefix: nil)
        var lanes = [first]
        let sharedPrefix: [UInt8]? = if case .cbc(_, _, let prefix) = first { prefix } else { nil }
        for _ in 1..<max(count, 1) {
            lanes.append(try PacketProtection(suite: suite, keys: keys, direction: direction, ivPrefix: sharedPrefix))
        }
        return lanes
    }

    /// - Parameter ivPrefix: a CBC sender's IV prefix to reuse (another lane's); nil draws a new one.
    init(
        suite: Ciphersuite, keys: DirectionalKeys, direction: CipherContext.Direction, ivPrefix: [UInt8]? = nil
    ) throws(CryptoError) {
        switch suite.encryption {
        case .null:
            self = .null(try IntegrityTransform(suite.integrity, key: keys.integrityKey))
        case .tripleDESCBC, .aes128CBC:
            let algorithm: CipherContext.Algorithm = suite.encryption == .aes128CBC ? .aes128CBC : .tripleDESCBC
            let cipher = try CipherContext(algorithm, direction: direction, key: keys.encryptionKey)
            let integrity = try IntegrityTransform(suite.integrity, key: keys.integrityKey)
            // Only the sender makes IVs; 4 octets of the block are left for the sequence number.
            var prefix: [UInt8] = []
            if direction == .encrypt {
                if let ivPrefix { prefix = ivPrefix } else { prefix = try SecureRandom.bytes(count: suite.ivLength - 4) }
            }
            self = .cbc(cipher, integrity, ivPrefix: prefix)
        case .aes128GCM, .aes256GCM, .chacha20Poly1305:
            let algorithm: CipherContext.Algorithm =
                switch suite.encryption {
                case .aes128GCM: .aes128GCM
                case .aes256GCM: .aes256GCM
                default: .chacha20Poly1305
                }
            let keyLength = keys.encryptionKey.count - Ciphersuite.aeadSaltLength
            let cipher = try CipherContext(
                algorithm, direction: direction, key: Array(keys.encryptionKey[0..<keyLength]))
            var salt: UInt32 = 0
            for octet in keys.encryptionKey[keyLength...] { salt = salt << 8 | UInt32(octet) }
            self = .aead(cipher, salt: salt)
        }
    }
}
