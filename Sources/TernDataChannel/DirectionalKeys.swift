public import TernProtocol

/// The keys for one direction of an SA (`mip6-mn-to-ha-*` or `mip6-ha-to-mn-*`, RFC 6618 §5.6.2),
/// checked against the suite when they are built (DESIGN.md, AEAD keys).
///
/// - AEAD suites: `encryptionKey` = key ‖ 4-octet salt (RFC 4106 §8.1 order); `integrityKey` must be
///   empty or is ignored.
/// - NULL suites: `integrityKey` only; an `encryptionKey` is ignored.
/// - CBC suites: both.
public struct DirectionalKeys: Sendable {
    public let encryptionKey: [UInt8]
    public let integrityKey: [UInt8]

    public init(suite: Ciphersuite, encryptionKey: [UInt8], integrityKey: [UInt8]) throws(SecurityAssociationError) {
        let needsEncryptionKey = suite.encryptionKeyLength > 0
        let needsIntegrityKey = suite.integrityKeyLength > 0
        if needsEncryptionKey, encryptionKey.count != suite.encryptionKeyLength {
            throw .keyLength(suite: suite, key: "ekey", expected: suite.encryptionKeyLength, actual: encryptionKey.count)
        }
        if needsIntegrityKey, integrityKey.count != suite.integrityKeyLength {
            throw .keyLength(suite: suite, key: "ikey", expected: suite.integrityKeyLength, actual: integrityKey.count)
        }
        self.encryptionKey = needsEncryptionKey ? encryptionKey : []
        self.integrityKey = needsIntegrityKey ? integrityKey : []
    }
}

/// Why an SA could not be built.
public enum SecurityAssociationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A key does not have the length its suite requires (DESIGN.md: wrong key lengths are refused).
    case keyLength(suite: Ciphersuite, key: String, expected: Int, actual: Int)
    /// OpenSSL could not build a context for the key.
    case crypto(String)

    public var description: String {
        switch self {
        case .keyLength(let suite, let key, let expected, let actual):
            "suite \(suite) (\(suite.name)) needs a \(expected)-octet \(key), got \(actual) octets"
        case .crypto(let detail):
            "could not set up the SA's cipher: \(detail)"
        }
    }
}
