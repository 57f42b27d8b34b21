import TernProtocol

/// Text as it appears in a message: as written, quoted when empty or when it holds spaces or controls,
/// cut at 64 characters. Never used for key material.
func shown(_ text: String) -> String {
    let cut = text.unicodeScalars.count > 64 ? String(String.UnicodeScalarView(text.unicodeScalars.prefix(64))) + "…" : text
    let plain = !cut.isEmpty && cut.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value != 0x7F && $0 != "'" }
    return plain ? cut : "'" + cut.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : String($0) }.joined() + "'"
}

/// An unsigned integer as the config files write them: decimal (no sign, no leading zero) or hex with
/// `0x`. Returns nil for anything else; values too large for `UInt64` come back as `UInt64.max`.
enum IntegerText {
    case value(UInt64)
    case notAnInteger
    case leadingZero

    init(_ text: String) {
        let lower = text.lowercased()
        if lower.hasPrefix("0x") {
            let digits = lower.dropFirst(2)
            guard !digits.isEmpty, digits.allSatisfy(\.isHexDigit) else {
                self = .notAnInteger
                return
            }
            self = .value(UInt64(digits, radix: 16) ?? .max)
        } else {
            guard !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                self = .notAnInteger
                return
            }
            guard text.count == 1 || text.first != "0" else {
                self = .leadingZero
                return
            }
            self = .value(UInt64(text) ?? .max)
        }
    }
}

extension YAMLField {
    /// An integer within `range`; `what` names it in messages ("SPI", "port").
    func integer(_ what: String, in range: ClosedRange<Int>, unit: String = "") throws(ConfigurationError) -> Int {
        let text = try scalar("an integer")
        let bounds = "(\(range.lowerBound)…\(range.upperBound)\(unit))"
        switch IntegerText(text) {
        case .notAnInteger:
            throw valueError("\(shown(text)) is not a valid \(what) \(bounds): write a decimal integer, or hex with 0x")
        case .leadingZero:
            throw valueError("\(shown(text)) is ambiguous (octal?): write decimal without leading zeros, or hex with 0x")
        case .value(let value):
            guard value <= UInt64(range.upperBound), Int(value) >= range.lowerBound else {
                throw valueError("\(shown(text)) is not a valid \(what) \(bounds)")
            }
            return Int(value)
        }
    }

    func port() throws(ConfigurationError) -> UInt16 {
        UInt16(try integer("port", in: 1...65535))
    }

    func address() throws(ConfigurationError) -> IPAddress {
        let text = try scalar("an IPv4 or IPv6 address")
        guard let address = IPAddress(text) else {
            if IPPrefix(text) != nil, text.contains("/") {
                throw valueError("\(shown(text)) is a prefix; expected an address without /length")
            }
            throw valueError("\(shown(text)) is not an IPv4 or IPv6 address")
        }
        return address
    }

    func prefix() throws(ConfigurationError) -> IPPrefix {
        let text = try scalar("an address with a prefix length, e.g. 192.0.2.1/24")
        guard let prefix = IPPrefix(text) else {
            let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            if parts.count == 2, let address = IPAddress(parts[0]) {
                throw valueError("\(shown(text)) has an invalid prefix length (0…\(address.bitWidth))")
            }
            throw valueError("\(shown(text)) is not an IPv4 or IPv6 prefix (address/length)")
        }
        return prefix
    }

    /// A list of `parse`d entries, 1 (or 0) to `ConfigurationLimits.maximumListLength` long, without
    /// duplicates.
    func list<T: Hashable>(
        of expected: String, allowEmpty: Bool = false, _ parse: (YAMLField) throws(ConfigurationError) -> T
    ) throws(ConfigurationError) -> [T] {
        let entries = try sequence(expected, limit: ConfigurationLimits.maximumListLength)
        if entries.isEmpty, !allowEmpty { throw valueError("at least one entry is required") }
        var values: [T] = []
        for entry in entries {
            let value = try parse(entry)
            if let index = values.firstIndex(of: value) {
                throw entry.valueError("duplicate of entry [\(index)]")
            }
            values.append(value)
        }
        return values
    }

    /// A path; relative ones are taken relative to the directory of the file that names them.
    func filePath() throws(ConfigurationError) -> String {
        let text = try scalar("a file path")
        guard !text.contains("\0"), !text.unicodeScalars.contains(where: { $0.value < 0x20 }) else {
            throw valueError("the path contains control characters")
        }
        let resolved = resolvePath(text, relativeTo: file)
        guard resolved.utf8.count <= ConfigurationLimits.maximumPathLength else {
            throw valueError("the path is longer than \(ConfigurationLimits.maximumPathLength) octets")
        }
        return resolved
    }

    /// A Linux interface name: 1–15 of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
    func interfaceName() throws(ConfigurationError) -> String {
        let text = try scalar("an interface name")
        let limit = ConfigurationLimits.maximumInterfaceNameLength
        guard (1...limit).contains(text.utf8.count), text.allSatisfy(isNameCharacter), text != ".", text != ".." else {
            throw valueError("\(shown(text)) is not a valid interface name (1–\(limit) of A–Z, a–z, 0–9, '.', '_', '-')")
        }
        return text
    }

    /// The tunnel MTU, 576…9000, at least 1280 when the tunnel carries IPv6.
    func mtu(carriesIPv6: Bool) throws(ConfigurationError) -> Int {
        let mtu = try integer("MTU", in: ConfigurationLimits.mtuRange)
        if carriesIPv6, mtu < ConfigurationLimits.minimumIPv6MTU {
            throw valueError(
                "\(mtu) is too small: the tunnel carries IPv6, which needs at least \(ConfigurationLimits.minimumIPv6MTU) (RFC 8200 §5)")
        }
        return mtu
    }

    func securityParameterIndex() throws(ConfigurationError) -> SecurityParameterIndex {
        let value = try integer("SPI", in: 1...Int(SecurityParameterIndex.maximum))
        return SecurityParameterIndex(rawValue: UInt32(value))!
    }

    /// `"{13,01}"` as RFC 6618 §5.6.5 writes it, or the TLS name (`AES_128_GCM_SHA256`).
    func suite() throws(ConfigurationError) -> Ciphersuite {
        if case .mapping = node {
            throw valueError("write the suite in quotes, e.g. suite: \"{13,01}\" (unquoted braces are a YAML mapping)")
        }
        let text = try scalar("a ciphersuite, e.g. \"{13,01}\"")
        if let named = Ciphersuite.allCases.first(where: { $0.name == text.uppercased() }) { return named }
        do {
            return try Ciphersuite(parsing: text)
        } catch {
            throw valueError(error.description)
        }
    }

    /// `true` or `false` (YAML 1.2 core schema spellings; `yes`/`no`/`on`/`off` are refused, so a value
    /// never means something other than what it looks like).
    func boolean() throws(ConfigurationError) -> Bool {
        let text = try scalar("true or false")
        switch text {
        case "true", "True", "TRUE": return true
        case "false", "False", "FALSE": return false
        default: throw valueError("\(shown(text)) is not true or false")
        }
    }

    func scope() throws(ConfigurationError) -> SecurityAssociationScope {
        let value = try integer("SA scope", in: 0...1)
        return SecurityAssociationScope(rawValue: UInt8(value))!
    }
}

func isNameCharacter(_ character: Character) -> Bool {
    character.isASCII && (character.isLetter || character.isNumber || character == "." || character == "_" || character == "-")
}

/// `path` as is when absolute, else relative to the directory of `file` (as is when `file` has none).
func resolvePath(_ path: String, relativeTo file: String) -> String {
    guard !path.hasPrefix("/"), let slash = file.lastIndex(of: "/") else { return path }
    let directory = file[...slash]
    return String(directory) + path
}

extension IPPrefix {
    /// The prefix with the host bits cleared: `198.51.100.0/24` for `198.51.100.7/24`.
    var network: IPPrefix {
        switch address {
        case .v4(let v4):
            let mask: UInt32 = length == 0 ? 0 : ~UInt32(0) << UInt32(32 - length)
            return IPPrefix(address: .v4(IPv4Address(rawValue: v4.rawValue & mask)), length: length)!
        case .v6(let v6):
            let highMask: UInt64 = length == 0 ? 0 : length >= 64 ? ~0 : ~UInt64(0) << UInt64(64 - length)
            let lowMask: UInt64 = length <= 64 ? 0 : length == 128 ? ~0 : ~UInt64(0) << UInt64(128 - length)
            return IPPrefix(address: .v6(IPv6Address(high: v6.high & highMask, low: v6.low & lowMask)), length: length)!
        }
    }
}

extension IPAddress {
    var isUnspecified: Bool {
        switch self {
        case .v4(let v4): v4 == .any
        case .v6(let v6): v6 == .any
        }
    }
}
