/// One `name: value` line of an MN–HAC message (RFC 6618 §5.2).
public struct TVHeader: Sendable, Hashable {
    /// Lowercased: names match case-insensitively (DESIGN.md, encodings).
    public let name: String
    /// The value without the spaces and tabs around it.
    public let value: String
    /// 1-based line number in the Content, for error messages.
    public let line: Int
}

/// The TV-headers of one Content, parsed without losing the octets `auth` covers (RFC 6618 §5.2, §5.5.5,
/// §5.5.7; DESIGN.md, msg-octets).
///
/// Rules (the RFC defers to RFC 2616's grammar; where that is loose, Tern is strict, because `auth` is
/// computed over exact octets and two readers must agree on what a message says):
/// - Lines end with CRLF only. A bare LF or CR is refused rather than tolerated as HTTP/1.1 servers do:
///   the octets are authenticated as sent, and a second reading of line breaks would let the same signed
///   octets mean two header sets.
/// - No continuation lines (obsolete line folding); names are `A–Z a–z 0–9 - _ .`; values printable
///   ASCII and tab. NAIs with non-ASCII UTF-8 are therefore refused.
/// - `auth` is the last header; the message ends with an empty line and nothing after it.
/// - A header may appear once, except `dns-ip4` and `dns-ip6` (several DNS servers are a list by nature,
///   and RFC 6618 §5.7.4 gives no list syntax), at most ``maximumRepetitions`` times each.
/// - Unknown headers are kept (and covered by `auth`) but the typed layer ignores them, so a newer peer's
///   extra headers do not break an exchange.
public struct TVHeaderBlock: Sendable, Hashable {
    /// More headers than the largest message (the HAC's final PSK response, about twenty) with room to spare.
    public static let maximumHeaderCount = 64
    /// Octets per line without CRLF: the longest legitimate value is a 36-octet key in hex (72 characters)
    /// or an NAI (253); 1 KiB leaves room for extensions while bounding what one line can hold.
    public static let maximumLineLength = 1024
    /// Headers that may repeat, each a list of servers.
    public static let repeatableHeaders: Set<String> = ["dns-ip4", "dns-ip6"]
    /// How often a repeatable header may appear.
    public static let maximumRepetitions = 8

    /// Every header before `auth`, in order.
    public let headers: [TVHeader]
    /// The `auth` header, if present.
    public let auth: TVHeader?
    /// msg-octets: the Content from its first octet up to, not including, the `auth` line. Without
    /// `auth`, the Content without its final empty line.
    public let authenticatedOctets: [UInt8]

    /// The first header called `name` (lowercase).
    public func header(_ name: String) -> TVHeader? { headers.first { $0.name == name } }

    /// Every header called `name` (lowercase), in order.
    public func headers(named name: String) -> [TVHeader] { headers.filter { $0.name == name } }

    public init(parsing content: some Collection<UInt8>) throws(HACError) {
        let bytes = Array(content)
        var headers: [TVHeader] = []
        var counts: [String: Int] = [:]
        var auth: TVHeader?
        var authStart: Int?
        var index = 0
        var line = 1
        while true {
            // Find this line's CR, scanning no further than the line limit allows.
            var end = index
            let scanLimit = min(bytes.count, index + Self.maximumLineLength + 1)
            while end < scanLimit && bytes[end] != 0x0D && bytes[end] != 0x0A { end += 1 }
            if end == scanLimit {
                if end == bytes.count { throw HACError(.missingEndOfMessage, line: line) }
                throw HACError(.lineTooLong(limit: Self.maximumLineLength), line: line)
            }
            guard bytes[end] == 0x0D, end + 1 < bytes.count, bytes[end + 1] == 0x0A else {
                if bytes[end] == 0x0D && end + 1 == bytes.count { throw HACError(.missingEndOfMessage, line: line) }
                throw HACError(.bareLineBreak, line: line)
            }
            if end == index {
                // The empty line: end of message (§5.5.7).
                guard end + 2 == bytes.count else { throw HACError(.trailingOctets, line: line + 1) }
                break
            }
            let header = try Self.parseLine(bytes[index..<end], line: line)
            if auth != nil { throw HACError(.authNotLast, header: header.name, line: line) }
            let seen = counts[header.name, default: 0]
            if Self.repeatableHeaders.contains(header.name) {
                guard seen < Self.maximumRepetitions else {
                    throw HACError(.tooManyRepetitions(limit: Self.maximumRepetitions), header: header.name, line: line)
                }
            } else if seen > 0 {
                throw HACError(.duplicateHeader, header: header.name, line: line)
            }
            counts[header.name] = seen + 1
            if header.name == "auth" {
                auth = header
                authStart = index
            } else {
                guard headers.count < Self.maximumHeaderCount else {
                    throw HACError(.tooManyHeaders(limit: Self.maximumHeaderCount), line: line)
                }
                headers.append(header)
            }
            index = end + 2
            line += 1
        }
        self.headers = headers
        self.auth = auth
        self.authenticatedOctets = Array(bytes[0..<(authStart ?? max(bytes.count - 2, 0))])
    }

    private static func parseLine(_ bytes: ArraySlice<UInt8>, line: Int) throws(HACError) -> TVHeader {
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")), colon > bytes.startIndex else {
            throw HACError(.malformedLine, line: line)
        }
        var name = ""
        for byte in bytes[bytes.startIndex..<colon] {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
                name.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "A")...UInt8(ascii: "Z"):
                name.unicodeScalars.append(Unicode.Scalar(byte + 0x20))
            default:
                throw HACError(.malformedLine, line: line)
            }
        }
        var valueBytes = bytes[(colon + 1)...]
        for byte in valueBytes where !(byte == 0x09 || (0x20...0x7E).contains(byte)) {
            throw HACError(.invalidCharacter, header: name, line: line)
        }
        while let first = valueBytes.first, first == 0x20 || first == 0x09 { valueBytes = valueBytes.dropFirst() }
        while let last = valueBytes.last, last == 0x20 || last == 0x09 { valueBytes = valueBytes.dropLast() }
        return TVHeader(name: name, value: String(decoding: valueBytes, as: UTF8.self), line: line)
    }
}

/// Writes TV-headers in Tern's canonical spelling (DESIGN.md, encodings): lowercase names, one space after
/// the colon, CRLF; ``finished()`` adds the empty line. `auth` is appended last by the authentication code
/// through ``finished(auth:)``, after it has computed the MAC over ``octets``.
public struct TVHeaderWriter: Sendable {
    /// The header lines so far: exactly the msg-octets of the message being built.
    public private(set) var octets: [UInt8] = []

    public init() {}

    /// Appends `name: value CRLF`. Callers pass typed values Tern formatted itself; as a guard against a
    /// bug smuggling a line break into the frame, octets outside printable ASCII are left out, and the
    /// name is lowercased.
    public mutating func append(_ name: String, _ value: String) {
        for byte in name.utf8 where (0x21...0x7E).contains(byte) && byte != UInt8(ascii: ":") {
            octets.append((UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 0x20 : byte)
        }
        octets.append(UInt8(ascii: ":"))
        octets.append(UInt8(ascii: " "))
        for byte in value.utf8 where (0x20...0x7E).contains(byte) { octets.append(byte) }
        octets.append(0x0D)
        octets.append(0x0A)
    }

    /// The Content without `auth`: the headers and the empty line.
    public func finished() -> [UInt8] { octets + [0x0D, 0x0A] }

    /// The Content with `auth: <lowercase hex>` as the last header, then the empty line.
    public func finished(auth: [UInt8]) -> [UInt8] {
        var copy = self
        copy.append("auth", HexEncoding.encode(auth))
        return copy.finished()
    }
}
