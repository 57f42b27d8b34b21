import TernOS
public import TernProtocol
public import TernStore

/// `tern users`: the Mobile Nodes the co-located controller knows, in its database. The command parses
/// arguments and prints; the rules are here.
public enum MobileNodeAccounts {
    /// Octets of a generated pre-shared key: 256 bits, the HMAC-SHA256 key size.
    public static let preSharedKeyLength = 32

    /// The identity as the controller and the Mobile Node read it (``NetworkAccessIdentifier``, RFC 4282):
    /// one rule, so that no identity is added that could never bootstrap.
    /// - Throws: ``DaemonError`` (configuration) saying what an identity looks like.
    public static func identity(_ text: String) throws(DaemonError) -> NetworkAccessIdentifier {
        guard let identity = NetworkAccessIdentifier(text) else {
            throw DaemonError(
                "\(text.debugDescription) is not a network access identifier (user@realm, RFC 4282)", configuration: true)
        }
        return identity
    }

    /// What a PSK file holds: the key as lowercase hex and a newline (``PreSharedKeyFile`` reads it back).
    public static func preSharedKeyFileText(_ key: [UInt8]) -> [UInt8] {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(key.count * 2 + 1)
        for octet in key {
            text.append(digits[Int(octet >> 4)])
            text.append(digits[Int(octet & 0x0F)])
        }
        text.append(0x0A)
        return text
    }

    /// Adds `identity` with `key`: the PSK file first (created root-only, never replacing anything), so a
    /// key is never stored that nobody holds; the file is removed again when the database refuses.
    /// - Parameter now: seconds since 1970.
    /// - Throws: ``DaemonError`` saying which step failed.
    public static func add(
        _ identity: NetworkAccessIdentifier, key: [UInt8], pskFile: String, store: HomeAgentControllerStore, now: Double
    ) throws(DaemonError) {
        do { try PrivateFile.create(pskFile, contents: preSharedKeyFileText(key)) } catch {
            throw DaemonError("cannot create \(pskFile): \(error.explanation)")
        }
        do {
            try store.addMobileNode(identity: identity.text, preSharedKey: key, at: now)
        } catch {
            try? PrivateFile.remove(pskFile)
            throw DaemonError("\(error)")
        }
    }

    /// One line for `tern users list`.
    public static func describe(_ node: MobileNodeRecord) -> String {
        let addresses = node.homeAddresses.isEmpty ? "none yet" : node.homeAddresses.map(\.description).joined(separator: ", ")
        return "\(node.identity)\(node.disabled ? " (disabled)" : ""): home addresses \(addresses); \(node.securityAssociations.count) live SA(s)"
    }
}
