/// The MN–HA ciphersuites: the five of RFC 6618 §5.6.5, named by their TLS 1.2 code points, and the
/// project's three AEAD extensions, named by TLS 1.3's code points for the same AEADs (DESIGN.md,
/// Ciphersuites). Written on the wire as `{00,2F}`.
public enum Ciphersuite: UInt16, Sendable, CaseIterable, CustomStringConvertible {
    /// `{00,02}`: HMAC-SHA1-96 (RFC 2404), NULL encryption (RFC 2410).
    case nullSHA = 0x0002
    /// `{00,3B}`: AES-XCBC-MAC-96 (RFC 3566), NULL encryption.
    case nullSHA256 = 0x003B
    /// `{00,0A}`: HMAC-SHA1-96, 3DES-EDE-CBC (RFC 2451).
    case tripleDESEDECBCSHA = 0x000A
    /// `{00,2F}`: HMAC-SHA1-96, AES-128-CBC (RFC 3602).
    case aes128CBCSHA = 0x002F
    /// `{00,3C}`: AES-XCBC-MAC-96, AES-128-CBC.
    case aes128CBCSHA256 = 0x003C
    /// `{13,01}`: AES-128-GCM with a 16-octet tag and the RFC 8750 implicit nonce. The project default.
    case aes128GCMSHA256 = 0x1301
    /// `{13,02}`: AES-256-GCM, 16-octet tag, implicit nonce.
    case aes256GCMSHA384 = 0x1302
    /// `{13,03}`: ChaCha20-Poly1305 (RFC 7634 framing), 16-octet tag, implicit nonce.
    case chacha20Poly1305SHA256 = 0x1303

    /// AES-128-GCM (DESIGN.md: "AES-128-GCM is the default").
    public static let `default` = Ciphersuite.aes128GCMSHA256

    public enum Integrity: Sendable {
        case hmacSHA1_96
        case aesXCBCMAC96
        /// The encryption algorithm's own tag authenticates.
        case combined
    }

    public enum Encryption: Sendable {
        case null
        case tripleDESCBC
        case aes128CBC
        case aes128GCM
        case aes256GCM
        case chacha20Poly1305
    }

    public var integrity: Integrity {
        switch self {
        case .nullSHA, .tripleDESEDECBCSHA, .aes128CBCSHA: .hmacSHA1_96
        case .nullSHA256, .aes128CBCSHA256: .aesXCBCMAC96
        case .aes128GCMSHA256, .aes256GCMSHA384, .chacha20Poly1305SHA256: .combined
        }
    }

    public var encryption: Encryption {
        switch self {
        case .nullSHA, .nullSHA256: .null
        case .tripleDESEDECBCSHA: .tripleDESCBC
        case .aes128CBCSHA, .aes128CBCSHA256: .aes128CBC
        case .aes128GCMSHA256: .aes128GCM
        case .aes256GCMSHA384: .aes256GCM
        case .chacha20Poly1305SHA256: .chacha20Poly1305
        }
    }

    public var isAEAD: Bool { integrity == .combined }

    /// Octets of `mip6-*-ekey`: for AEAD suites the key followed by a 4-octet salt (RFC 4106 §8.1 order);
    /// 0 for NULL encryption, whose ekey is ignored if present.
    public var encryptionKeyLength: Int {
        switch encryption {
        case .null: 0
        case .tripleDESCBC: 24
        case .aes128CBC: 16
        case .aes128GCM: 16 + Self.aeadSaltLength
        case .aes256GCM, .chacha20Poly1305: 32 + Self.aeadSaltLength
        }
    }

    /// Octets of `mip6-*-ikey`: 20 for HMAC-SHA1-96 (RFC 2404 §3), 16 for AES-XCBC-MAC-96 (RFC 3566 §4.1),
    /// 0 for AEAD suites, whose ikey is ignored if present.
    public var integrityKeyLength: Int {
        switch integrity {
        case .hmacSHA1_96: 20
        case .aesXCBCMAC96: 16
        case .combined: 0
        }
    }

    /// The salt at the end of an AEAD suite's ekey (RFC 4106 §8.1, RFC 7634 §2).
    public static let aeadSaltLength = 4

    /// Octets of explicit IV on the wire: the CBC block (RFC 3602 §3, RFC 2451 §3); none for NULL
    /// encryption and none for AEAD suites, whose nonce is implicit (RFC 8750, DESIGN.md).
    public var ivLength: Int {
        switch encryption {
        case .tripleDESCBC: 8
        case .aes128CBC: 16
        case .null, .aes128GCM, .aes256GCM, .chacha20Poly1305: 0
        }
    }

    /// What payload + padding + Pad Length + Next Header is aligned to: the cipher block for CBC, else
    /// 4 octets (RFC 4303 §2.4).
    public var alignment: Int {
        switch encryption {
        case .tripleDESCBC: 8
        case .aes128CBC: 16
        case .null, .aes128GCM, .aes256GCM, .chacha20Poly1305: 4
        }
    }

    /// Octets of ICV: 12 for the -96 MACs (RFC 2404 §2, RFC 3566 §4.3), 16 for the AEAD tags.
    public var icvLength: Int { isAEAD ? 16 : 12 }

    /// Octets in front of the payload: the 8-byte header and the explicit IV.
    public var headroom: Int { DataChannelHeader.length + ivLength }

    /// The most octets behind the payload with minimal padding: alignment − 1, Pad Length, Next Header, ICV.
    public var tailroom: Int { alignment - 1 + 2 + icvLength }

    /// Padding octets for a payload of `length` octets: the fewest that align payload + padding + 2.
    public func paddingLength(forPayloadLength length: Int) -> Int {
        let remainder = (length + 2) % alignment
        return remainder == 0 ? 0 : alignment - remainder
    }

    /// The largest payload whose sealed datagram (header, IV, payload, minimal padding, trailer, ICV) is
    /// at most `datagramLength` octets: how big an inner packet may be for an outer path.
    public func largestPayload(forDatagramLength datagramLength: Int) -> Int {
        var payload = datagramLength - headroom - ESPTrailer.fixedLength - icvLength
        while payload > 0 && headroom + payload + paddingLength(forPayloadLength: payload) + 2 + icvLength > datagramLength {
            payload -= 1
        }
        return max(payload, 0)
    }

    /// The RFC's code, `{00,2F}`, uppercase hex as RFC 6618 §5.6.5 writes it.
    public var description: String {
        let digits: [Character] = Array("0123456789ABCDEF")
        func hex(_ byte: UInt16) -> String {
            String([digits[Int(byte >> 4 & 0xF)], digits[Int(byte & 0xF)]])
        }
        return "{\(hex(rawValue >> 8)),\(hex(rawValue & 0xFF))}"
    }

    /// The TLS name the RFC's table uses, for logs and `--help`.
    public var name: String {
        switch self {
        case .nullSHA: "NULL_SHA"
        case .nullSHA256: "NULL_SHA256"
        case .tripleDESEDECBCSHA: "3DES_EDE_CBC_SHA"
        case .aes128CBCSHA: "AES_128_CBC_SHA"
        case .aes128CBCSHA256: "AES_128_CBC_SHA256"
        case .aes128GCMSHA256: "AES_128_GCM_SHA256"
        case .aes256GCMSHA384: "AES_256_GCM_SHA384"
        case .chacha20Poly1305SHA256: "CHACHA20_POLY1305_SHA256"
        }
    }

    /// The longest text one suite may take: `{00,2F}` is 7 characters; whitespace around the octets is
    /// tolerated up to this bound, so a hostile header cannot make the parser walk a long string.
    public static let maximumSuiteTextLength = 16

    /// Parses one suite as RFC 6618 §5.6.5 writes it: `{00,2F}`; hex in either case, whitespace around
    /// the octets tolerated (DESIGN.md, Spelling).
    public init(parsing text: some StringProtocol) throws(CiphersuiteParseError) {
        let trimmed = text.trimmingASCIIWhitespace()
        guard trimmed.count <= Self.maximumSuiteTextLength else { throw .malformed(String(text.prefix(32))) }
        guard trimmed.first == "{", trimmed.last == "}" else { throw .malformed(String(trimmed)) }
        let inner = trimmed.dropFirst().dropLast()
        let parts = inner.split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count == 2,
            let high = UInt8(parts[0].trimmingASCIIWhitespace(), radix: 16),
            let low = UInt8(parts[1].trimmingASCIIWhitespace(), radix: 16),
            parts[0].trimmingASCIIWhitespace().count == 2, parts[1].trimmingASCIIWhitespace().count == 2
        else { throw .malformed(String(trimmed)) }
        guard let suite = Ciphersuite(rawValue: UInt16(high) << 8 | UInt16(low)) else {
            throw .unsupported(String(trimmed))
        }
        self = suite
    }

    /// Parses a `mip6-suitelist` value: suites separated by `,` (RFC 6618 §5.6.5), e.g. `{00,2F},{13,01}`.
    /// Unknown suites in the list are reported, not skipped: the caller decides whether to ignore them.
    public static func parseList(_ text: some StringProtocol) throws(CiphersuiteParseError) -> [Ciphersuite] {
        var suites: [Ciphersuite] = []
        var rest = Substring(text).trimmingASCIIWhitespace()
        guard !rest.isEmpty else { throw .malformed("") }
        while !rest.isEmpty {
            guard let close = rest.firstIndex(of: "}") else { throw .malformed(String(rest.prefix(32))) }
            suites.append(try Ciphersuite(parsing: rest[...close]))
            rest = rest[rest.index(after: close)...].trimmingASCIIWhitespace()
            if rest.first == "," {
                rest = rest.dropFirst().trimmingASCIIWhitespace()
                guard !rest.isEmpty else { throw .malformed("trailing comma") }
            } else if !rest.isEmpty {
                throw .malformed(String(rest.prefix(32)))
            }
        }
        return suites
    }

    /// Formats a `mip6-suitelist` value: comma-separated, no spaces (DESIGN.md, Spelling).
    public static func formatList(_ suites: [Ciphersuite]) -> String {
        suites.map(\.description).joined(separator: ",")
    }
}

/// Why a ciphersuite string was refused.
public enum CiphersuiteParseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Not of the form `{XX,XX}` with two hex digits per octet.
    case malformed(String)
    /// Well formed but not one of the eight suites Tern implements.
    case unsupported(String)

    public var description: String {
        switch self {
        case .malformed(let text): "ciphersuite '\(text)' is not of the form {00,2F}"
        case .unsupported(let text): "ciphersuite \(text) is not supported (supported: "
            + Ciphersuite.formatList(Ciphersuite.allCases) + ")"
        }
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces, tabs, CR and LF.
    package func trimmingASCIIWhitespace() -> SubSequence {
        let isSpace: (Character) -> Bool = { $0.isASCII && $0.isWhitespace }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) })
        else { return self[endIndex..<endIndex] }
        return self[first...last]
    }
}
