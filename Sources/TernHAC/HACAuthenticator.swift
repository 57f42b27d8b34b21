public import TernProtocol
internal import TernCrypto

/// Who computed an `auth` (RFC 6618 §5.8): the label in front of msg-octets.
public enum HACRole: Sendable {
    /// `"MN"`, 2 ASCII octets.
    case mobileNode
    /// `"HAC"`, 3 ASCII octets.
    case homeAgentController

    var label: [UInt8] { self == .mobileNode ? Array("MN".utf8) : Array("HAC".utf8) }
}

/// `auth = HMAC-SHA256(key, label ‖ msg-octets ‖ CB-octets)` (RFC 6618 §5.8; DESIGN.md, msg-octets and
/// CB-octets).
public enum HACAuthenticator {
    /// Octets of `auth`: one HMAC-SHA256.
    public static let length = 32

    /// The MAC for `messageOctets` sent by `role`.
    public static func authenticator(
        key: [UInt8], role: HACRole, messageOctets: [UInt8], channelBinding: [UInt8]
    ) throws(HACError) -> [UInt8] {
        do {
            let context = try HMACContext(.sha256, key: key)
            return try context.authenticate(role.label + messageOctets + channelBinding)
        } catch {
            throw HACError(.internalFailure(error.description))
        }
    }

    /// The Content of a message: `headers`, then `auth`, then the empty line.
    public static func seal(
        _ headers: TVHeaderWriter, key: [UInt8], role: HACRole, channelBinding: [UInt8]
    ) throws(HACError) -> [UInt8] {
        let mac = try authenticator(key: key, role: role, messageOctets: headers.octets, channelBinding: channelBinding)
        return headers.finished(auth: mac)
    }

    /// True when `block` carries an `auth` that `role` computed with `key`; the comparison is constant-time.
    /// - Throws: when `auth` is absent or not hex (a malformed message, 400).
    public static func verify(
        _ block: TVHeaderBlock, key: [UInt8], role: HACRole, channelBinding: [UInt8]
    ) throws(HACError) -> Bool {
        guard let header = block.auth else { throw HACError(.missingHeader, header: "auth") }
        guard let received = HexEncoding.decode(header.value) else {
            throw HACError(.invalidValue("not hex"), header: "auth", line: header.line)
        }
        let expected = try authenticator(
            key: key, role: role, messageOctets: block.authenticatedOctets, channelBinding: channelBinding)
        return ConstantTime.equal(expected, received)
    }
}
