/// Hex text as the MN–HAC protocol writes keys, nonces and `auth` (RFC 6618 §5.5.5, §5.5.8, §5.6.2):
/// lowercase out, either case in (DESIGN.md, Spelling).
public enum HexEncoding {
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `1*(HEX HEX)`: nil for an empty, odd-length or non-hex string.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard !utf8.isEmpty, utf8.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// The `mn-id` (RFC 6618 §5.5.1): a Network Access Identifier, RFC 4282 §2.1, `username@realm` or
/// `username`.
///
/// Validation is RFC 4282's ASCII grammar, slightly tightened: the username is dot-separated runs of
/// letters, digits and ``usernameSymbols`` (no leading, trailing or double dot; no `\` escapes); the realm
/// is dot-separated labels of letters, digits and `-` (not at a label's ends), at least one label. The
/// bare `@realm` form is refused: Tern's identities are per MN, and an empty username names no one.
/// The text is kept as sent; lookups decide about case.
public struct NetworkAccessIdentifier: Sendable, Hashable, CustomStringConvertible {
    /// RFC 4282 §2.2: "the NAI ... is limited to 253 octets" (the RADIUS User-Name limit).
    public static let maximumLength = 253
    /// Characters besides letters and digits RFC 4282 allows in a username (its `string` rule).
    public static let usernameSymbols: Set<UInt8> = Set("!#$%&'*+-/=?^_`{|}~".utf8)

    public let text: String

    public init?(_ text: some StringProtocol) {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count <= Self.maximumLength else { return nil }
        let parts = bytes.split(separator: UInt8(ascii: "@"), maxSplits: 1, omittingEmptySubsequences: false)
        guard Self.validUsername(parts[0]) else { return nil }
        if parts.count == 2 {
            guard Self.validRealm(parts[1]) else { return nil }
        }
        self.text = String(text)
    }

    private static func isAlphanumeric(_ c: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(c)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c)
    }

    private static func validUsername(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard !bytes.isEmpty else { return false }
        let runs = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        return runs.allSatisfy { run in
            !run.isEmpty && run.allSatisfy { isAlphanumeric($0) || usernameSymbols.contains($0) }
        }
    }

    private static func validRealm(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard !bytes.isEmpty else { return false }
        let labels = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        return labels.allSatisfy { label in
            guard let first = label.first, let last = label.last, label.count <= 63 else { return false }
            return first != UInt8(ascii: "-") && last != UInt8(ascii: "-")
                && label.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "-") }
        }
    }

    public var description: String { text }
}

/// `mn-rand` / `hac-rand` (RFC 6618 §5.5.8): exactly 32 random octets, in hex on the wire.
public struct HACNonce: Sendable, Hashable, CustomStringConvertible {
    public static let length = 32
    public let octets: [UInt8]

    /// Nil unless exactly 32 octets.
    public init?(octets: [UInt8]) {
        guard octets.count == Self.length else { return nil }
        self.octets = octets
    }

    /// 64 hex digits, either case; nil otherwise.
    public init?(hex text: some StringProtocol) {
        guard text.utf8.count == 2 * Self.length, let octets = HexEncoding.decode(text) else { return nil }
        self.octets = octets
    }

    /// Lowercase hex.
    public var description: String { HexEncoding.encode(octets) }
}

/// The `a-method` values of RFC 6618 §5.5.2.
public enum HACAuthenticationMethod: String, Sendable, CaseIterable {
    case psk
    case eap

    /// The most methods a list may name; there are two, repeats included to be lenient.
    public static let maximumListCount = 8

    /// `a-method *("," a-method)`, whitespace around items tolerated, either case, repeats collapsed.
    /// Unknown methods are skipped (a newer MN may offer more), so a list naming none Tern knows is
    /// empty, and the HAC answers 501. Nil only when malformed: an empty item or more than
    /// ``maximumListCount`` items.
    public static func parseList(_ text: some StringProtocol) -> [HACAuthenticationMethod]? {
        let items = text.split(separator: ",", omittingEmptySubsequences: false)
        guard items.count <= maximumListCount else { return nil }
        var methods: [HACAuthenticationMethod] = []
        for item in items {
            let token = item.trimmingASCIIWhitespace()
            guard !token.isEmpty, token.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ",") })
            else { return nil }
            if let method = HACAuthenticationMethod(rawValue: token.lowercased()), !methods.contains(method) {
                methods.append(method)
            }
        }
        return methods
    }

    public static func formatList(_ methods: [HACAuthenticationMethod]) -> String {
        methods.map(\.rawValue).joined(separator: ",")
    }
}

/// An `rfc1123-date` (RFC 2616 §3.3.1), always GMT: `Sun, 06 Nov 1994 08:49:37 GMT`. Used by `retry-after`
/// and `mip6-sa-validity-end` (RFC 6618 §5.5.6, §5.6.3). Pure arithmetic on the proleptic Gregorian
/// calendar; no Foundation, no time zone database.
public struct HTTPDate: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Seconds since 1970-01-01 00:00:00 UTC, without leap seconds (POSIX time).
    public let secondsSince1970: Int64

    /// Years the parser accepts: before 1970 means nothing here, after 9999 does not fit four digits.
    public static let years: ClosedRange<Int> = 1970...9999

    private static let dayNames = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]  // 1970-01-01 was a Thursday
    private static let monthNames = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Nil outside 1970-01-01 … 9999-12-31.
    public init?(secondsSince1970: Int64) {
        guard secondsSince1970 >= 0, secondsSince1970 < 253_402_300_800 else { return nil }
        self.secondsSince1970 = secondsSince1970
    }

    /// The exact RFC 1123 form: day name, two-digit day, month name, four-digit year, `HH:MM:SS`, `GMT`,
    /// single spaces. Names match case-sensitively as RFC 2616 writes them. The day name must be one of
    /// the seven but is not checked against the date: it carries no information and a sender's mistake
    /// there is harmless. Seconds 60 (a leap second) reads as the next second, as POSIX time does.
    public init?(parsing text: some StringProtocol) {
        let bytes = Array(text.utf8)
        guard bytes.count == 29 else { return nil }
        let s = String(decoding: bytes, as: UTF8.self)
        let parts = s.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0].count == 4, parts[0].last == ",",
            Self.dayNames.contains(String(parts[0].dropLast())), parts[5] == "GMT",
            let day = Self.digits(parts[1], count: 2),
            let monthIndex = Self.monthNames.firstIndex(of: String(parts[2])),
            let year = Self.digits(parts[3], count: 4)
        else { return nil }
        let clock = parts[4].split(separator: ":", omittingEmptySubsequences: false)
        guard clock.count == 3, let hour = Self.digits(clock[0], count: 2), let minute = Self.digits(clock[1], count: 2),
            let second = Self.digits(clock[2], count: 2), hour < 24, minute < 60, second <= 60,
            Self.years.contains(year)
        else { return nil }
        let month = monthIndex + 1
        guard day >= 1, day <= Self.daysIn(month: month, year: year) else { return nil }
        let days = Self.daysFromCivil(year: year, month: month, day: day)
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second)
        guard let date = HTTPDate(secondsSince1970: seconds) else { return nil }
        self = date
    }

    public var description: String {
        let days = Int(secondsSince1970 / 86_400)
        let secondOfDay = Int(secondsSince1970 % 86_400)
        let (year, month, day) = Self.civilFromDays(days)
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let yearText = String(repeating: "0", count: max(0, 4 - String(year).count)) + String(year)
        return "\(Self.dayNames[days % 7]), \(two(day)) \(Self.monthNames[month - 1]) \(yearText) "
            + "\(two(secondOfDay / 3600)):\(two(secondOfDay / 60 % 60)):\(two(secondOfDay % 60)) GMT"
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.secondsSince1970 < rhs.secondsSince1970 }

    private static func digits(_ text: Substring, count: Int) -> Int? {
        guard text.utf8.count == count, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        return Int(text)
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms"), for year ≥ 1970.
    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = y / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    private static func civilFromDays(_ days: Int) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = z / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
