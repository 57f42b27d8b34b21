/// One static SA's sequence state as a file in the state directory (docs/configuration.md,
/// `state-directory`): six lines of text, parsed strictly. Pure: no file system access.
///
///     tern-sa-state 1
///     spi 4660
///     key-fingerprint 3f5c…(64 hex digits)
///     sent-reserved 1048576
///     received-highest 8127
///     clean-stop no
public struct SecurityAssociationStateFile: Sendable, Hashable {
    /// The first line: the format and its version.
    public static let header = "tern-sa-state 1"
    /// Larger than any file this type writes (about 160 octets): a bigger one is not a state file.
    public static let maximumLength = 1024

    public var securityParameterIndex: UInt32
    /// ``TernDataChannel/SecurityAssociation/keyFingerprint()``: which keys these numbers belong to.
    public var keyFingerprint: String
    public var state: PersistedSequenceState

    public init(securityParameterIndex: UInt32, keyFingerprint: String, state: PersistedSequenceState) {
        self.securityParameterIndex = securityParameterIndex
        self.keyFingerprint = keyFingerprint
        self.state = state
    }

    /// The file's name for this SA at one end: role, SPI and the start of the fingerprint, so a key
    /// changed under the same SPI names another file (and starts afresh).
    public static func name(role: String, spi: UInt32, keyFingerprint: String) -> String {
        "\(role)-sa-\(spi)-\(keyFingerprint.prefix(16)).state"
    }

    public var text: String {
        """
        \(Self.header)
        spi \(securityParameterIndex)
        key-fingerprint \(keyFingerprint)
        sent-reserved \(state.sentReserved)
        received-highest \(state.receivedHighest)
        clean-stop \(state.cleanStop ? "yes" : "no")

        """
    }

    /// Why a state file was refused: what was wrong and on which line.
    public struct ParseError: Error, Hashable, Sendable, CustomStringConvertible {
        public var line: Int
        public var message: String
        public var description: String { "line \(line): \(message)" }
    }

    private static let keys = ["spi", "key-fingerprint", "sent-reserved", "received-highest", "clean-stop"]

    /// Parses a state file's octets; never traps, whatever they are.
    public static func parse(_ octets: [UInt8]) throws(ParseError) -> SecurityAssociationStateFile {
        guard octets.count <= maximumLength else {
            throw ParseError(line: 0, message: "larger than \(maximumLength) octets")
        }
        guard let text = String(validating: octets, as: UTF8.self) else {
            throw ParseError(line: 0, message: "not UTF-8 text")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        guard lines.first == header else {
            throw ParseError(line: 1, message: "expected \"\(header)\"")
        }
        guard lines.count == keys.count + 1 else {
            throw ParseError(line: lines.count, message: "expected \(keys.count + 1) lines, found \(lines.count)")
        }
        var values: [String] = []
        for (index, key) in keys.enumerated() {
            let line = lines[index + 1]
            let prefix = key + " "
            guard line.hasPrefix(prefix), line.count > prefix.count else {
                throw ParseError(line: index + 2, message: "expected \"\(key) <value>\"")
            }
            values.append(String(line.dropFirst(prefix.count)))
        }
        func number(_ index: Int) throws(ParseError) -> UInt32 {
            guard values[index].allSatisfy(\.isASCII), let value = UInt32(values[index]) else {
                throw ParseError(line: index + 2, message: "\(keys[index]): not a number from 0 to \(UInt32.max)")
            }
            return value
        }
        let fingerprint = values[1]
        guard fingerprint.count == 64, fingerprint.allSatisfy({ $0.isHexDigit && $0.isASCII && !$0.isUppercase }) else {
            throw ParseError(line: 3, message: "key-fingerprint: expected 64 lowercase hex digits")
        }
        let clean: Bool
        switch values[4] {
        case "yes": clean = true
        case "no": clean = false
        default: throw ParseError(line: 6, message: "clean-stop: expected yes or no")
        }
        return SecurityAssociationStateFile(
            securityParameterIndex: try number(0), keyFingerprint: fingerprint,
            state: PersistedSequenceState(sentReserved: try number(2), receivedHighest: try number(3), cleanStop: clean))
    }
}
