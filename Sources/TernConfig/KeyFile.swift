public import TernDataChannel
public import TernProtocol
import TernOS

/// The keys of one SA as a key file states them (RFC 6618 §5.6.2 names): the four keys by direction and
/// use, each with where it was written. Which are needed depends on the suite; see
/// `securityAssociation(...)`. Its descriptions never show key material.
public struct KeyMaterial: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The fields of a key file.
    public enum Field: String, Sendable, CaseIterable, CustomStringConvertible {
        case mobileNodeToHomeAgentEncryption = "mn-to-ha-ekey"
        case mobileNodeToHomeAgentIntegrity = "mn-to-ha-ikey"
        case homeAgentToMobileNodeEncryption = "ha-to-mn-ekey"
        case homeAgentToMobileNodeIntegrity = "ha-to-mn-ikey"

        public var description: String { rawValue }
        var isEncryption: Bool { self == .mobileNodeToHomeAgentEncryption || self == .homeAgentToMobileNodeEncryption }
    }

    /// One key and where it was written (for messages about its length).
    public struct Key: Sendable, CustomStringConvertible, CustomReflectable {
        public var bytes: [UInt8]
        public var line: Int?
        public var column: Int?

        public init(bytes: [UInt8], line: Int? = nil, column: Int? = nil) {
            self.bytes = bytes
            self.line = line
            self.column = column
        }

        public var description: String { "<\(bytes.count)-octet key, redacted>" }
        public var customMirror: Mirror { Mirror(self, children: ["length": bytes.count]) }
    }

    /// The key file's path, for messages.
    public var path: String
    public var keys: [Field: Key]

    public init(path: String, keys: [Field: Key]) {
        self.path = path
        self.keys = keys
    }

    public var description: String {
        let present = Field.allCases.filter { keys[$0] != nil }.map { "\($0): \(keys[$0]!.bytes.count) octets" }
        return "KeyMaterial(\(path): \(present.isEmpty ? "no keys" : present.joined(separator: ", ")), redacted)"
    }

    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["path": path, "keys": description]) }

    /// Builds the SA, checking that the keys `suite` needs are present and of its lengths (DESIGN.md: no
    /// ikey for AEAD suites and no ekey for NULL suites, ignored if present). Errors point into the key file.
    public func securityAssociation(
        securityParameterIndex: SecurityParameterIndex, suite: Ciphersuite, scope: SecurityAssociationScope
    ) throws(ConfigurationError) -> SecurityAssociation {
        func key(_ field: Field) throws(ConfigurationError) -> [UInt8] {
            let expected = field.isEncryption ? suite.encryptionKeyLength : suite.integrityKeyLength
            guard expected > 0 else { return [] }
            var need = "\(expected) octets"
            if suite.isAEAD && field.isEncryption {
                need += " (a \(expected - Ciphersuite.aeadSaltLength)-octet key followed by a \(Ciphersuite.aeadSaltLength)-octet salt)"
            }
            let suiteName = "suite \(suite) (\(suite.name))"
            guard let key = keys[field] else {
                throw ConfigurationError(
                    file: path, line: 1, column: 1, field: field.rawValue,
                    message: "required field is missing: \(suiteName) needs \(need)")
            }
            guard key.bytes.count == expected else {
                throw ConfigurationError(
                    file: path, line: key.line, column: key.column, field: field.rawValue,
                    message: "key is \(key.bytes.count) octets; \(suiteName) needs \(need)")
            }
            return key.bytes
        }
        do {
            let mobileNodeToHomeAgent = try DirectionalKeys(
                suite: suite, encryptionKey: try key(.mobileNodeToHomeAgentEncryption),
                integrityKey: try key(.mobileNodeToHomeAgentIntegrity))
            let homeAgentToMobileNode = try DirectionalKeys(
                suite: suite, encryptionKey: try key(.homeAgentToMobileNodeEncryption),
                integrityKey: try key(.homeAgentToMobileNodeIntegrity))
            return SecurityAssociation(
                securityParameterIndex: securityParameterIndex, suite: suite, scope: scope,
                mobileNodeToHomeAgent: mobileNodeToHomeAgent, homeAgentToMobileNode: homeAgentToMobileNode)
        } catch let error as ConfigurationError {
            throw error
        } catch {
            // Lengths were checked above; SecurityAssociationError's text holds no key material either.
            throw ConfigurationError(file: path, message: "\(error)")
        }
    }
}

/// Key files: YAML with `mn-to-ha-ekey`, `mn-to-ha-ikey`, `ha-to-mn-ekey`, `ha-to-mn-ikey` as hex.
public enum KeyFile {
    /// Reads and parses the key file at `path` after checking that it is safe to trust: a regular file
    /// (not a symbolic link, checked with `lstat` and again with `O_NOFOLLOW`/`fstat` on what was opened),
    /// owned by root, with no permission for group or others (`mode & 0o077 == 0`).
    public static func load(path: String) throws(ConfigurationError) -> KeyMaterial {
        try parse(try readRootOnly(path), path: path)
    }

    /// The text of a file that holds secrets, after the same checks as ``load(path:)``: TernOS
    /// ``FileTrust/readSecret(_:noun:limit:)``, the one helper every secret file goes through (PSK files too).
    public static func readRootOnly(_ path: String) throws(ConfigurationError) -> String {
        guard !path.isEmpty else { throw ConfigurationError(file: path, message: "no file named") }
        let octets: [UInt8]
        do {
            octets = try FileTrust.readSecret(path, noun: "key file", limit: ConfigurationLimits.maximumKeyFileSize)
        } catch {
            throw ConfigurationError(file: path, message: readFailure(error, opening: "cannot open key file"))
        }
        return try text(octets, path: path)
    }

    /// Parses key-file text; `path` is for messages. Pure: no file system access. Messages name the
    /// field and the length, never the key.
    public static func parse(_ text: String, path: String) throws(ConfigurationError) -> KeyMaterial {
        let names = KeyMaterial.Field.allCases.map(\.rawValue)
        let root = try composeDocument(text, path: path, revealKey: names.contains)
        let mapping = try root.mapping(allowed: names, echoUnknownKeys: false)
        var keys: [KeyMaterial.Field: KeyMaterial.Key] = [:]
        for field in KeyMaterial.Field.allCases {
            guard let value = mapping.optional(field.rawValue) else { continue }
            keys[field] = try hexKey(value)
        }
        return KeyMaterial(path: path, keys: keys)
    }

    private static func hexKey(_ field: YAMLField) throws(ConfigurationError) -> KeyMaterial.Key {
        guard case .scalar = field.node else { throw field.valueError("expected the key as hex digits") }
        let text: String
        do {
            text = try field.scalar("the key as hex digits")
        } catch {
            throw field.valueError("the key is too long")
        }
        let digits = Array(text.utf8)
        if digits.count >= 2, digits[0] == UInt8(ascii: "0"), digits[1] | 0x20 == UInt8(ascii: "x") {
            throw field.valueError("write the key as hex digits without a 0x prefix")
        }
        if let bad = digits.firstIndex(where: { hexValue($0) == nil }) {
            throw field.valueError(
                "the key must be hex digits without separators; character \(bad + 1) is not a hex digit")
        }
        guard digits.count % 2 == 0 else {
            throw field.valueError("the key has an odd number of hex digits (\(digits.count))")
        }
        guard !digits.isEmpty else { throw field.valueError("the key is empty") }
        guard digits.count / 2 <= ConfigurationLimits.maximumKeyLength else {
            throw field.valueError(
                "key is \(digits.count / 2) octets; no suite uses more than \(ConfigurationLimits.maximumKeyLength)")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        for index in stride(from: 0, to: digits.count, by: 2) {
            bytes.append(hexValue(digits[index])! << 4 | hexValue(digits[index + 1])!)
        }
        let at = field.node.mark ?? field.mark
        return KeyMaterial.Key(bytes: bytes, line: at?.line, column: at?.column)
    }

    private static func hexValue(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
