// Helpers shared by Tern's test targets.

/// Octets from hex text; whitespace is ignored. Traps on malformed hex: test inputs are ours.
public func hex(_ text: String) -> [UInt8] {
    let digits = text.filter { !$0.isWhitespace }
    precondition(digits.count % 2 == 0, "odd number of hex digits")
    var out: [UInt8] = []
    out.reserveCapacity(digits.count / 2)
    var index = digits.startIndex
    while index < digits.endIndex {
        let next = digits.index(index, offsetBy: 2)
        guard let octet = UInt8(digits[index..<next], radix: 16) else { preconditionFailure("bad hex: \(text)") }
        out.append(octet)
        index = next
    }
    return out
}

/// Lowercase hex of `bytes`, for readable failure messages.
public func hexString(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}

/// SplitMix64: a small seeded generator, so randomised tests fail the same way twice.
public struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &self) }
    }
}

/// Which of `secrets` show when `value` is printed every way Swift prints things — `String(describing:)`,
/// `String(reflecting:)`, `dump` — as hex in either case, or as Swift prints a `[UInt8]` (whole, or its
/// first six octets, or its hex digits' ASCII codes). Empty when none does.
public func leaks(of secrets: [[UInt8]], in value: Any) -> [String] {
    var dumped = ""
    dump(value, to: &dumped)
    let renderings = [String(describing: value), String(reflecting: value), dumped]
    var found: [String] = []
    for secret in secrets where secret.count >= 4 {
        // As elements of a larger array too (no leading bracket); hex text held as octets (a Content
        // carrying `mip6-*-key` headers) prints as the ASCII codes of the digits.
        func elements(_ octets: some Collection<UInt8>) -> String { octets.map(String.init).joined(separator: ", ") + "," }
        let spellings = [
            hexString(secret), hexString(secret).uppercased(), "\(secret)", elements(secret.prefix(6)),
            elements(hexString(secret).utf8.prefix(8)),
        ]
        for spelling in spellings where renderings.contains(where: { $0.contains(spelling) }) {
            found.append(spelling)
        }
    }
    return found
}
