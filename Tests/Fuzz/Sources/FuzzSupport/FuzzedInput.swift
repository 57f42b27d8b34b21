// What every harness shares: the fuzzer's octets read as values, and the check that makes a broken
// invariant a crash libFuzzer reports (and saves the input of).

/// The octets of one fuzzer input, read front to back. Past the end every read yields zeros (or nothing),
/// so a harness never has to check lengths itself and short inputs still mean something.
public struct FuzzedInput {
    public let octets: UnsafeRawBufferPointer
    public private(set) var offset = 0

    public init(_ data: UnsafePointer<UInt8>?, _ size: Int) {
        octets = UnsafeRawBufferPointer(start: data.map(UnsafeRawPointer.init), count: data == nil ? 0 : size)
    }

    public init(_ octets: UnsafeRawBufferPointer) {
        self.octets = octets
    }

    public var isEmpty: Bool { offset >= octets.count }
    public var remainingCount: Int { max(0, octets.count - offset) }

    public mutating func byte() -> UInt8 {
        guard offset < octets.count else { return 0 }
        defer { offset += 1 }
        return octets[offset]
    }

    public mutating func bool() -> Bool { byte() & 1 == 1 }

    public mutating func uint16() -> UInt16 { UInt16(byte()) << 8 | UInt16(byte()) }

    public mutating func uint32() -> UInt32 { UInt32(uint16()) << 16 | UInt32(uint16()) }

    public mutating func uint64() -> UInt64 { UInt64(uint32()) << 32 | UInt64(uint32()) }

    /// Up to `count` octets (fewer at the end).
    public mutating func bytes(_ count: Int) -> UnsafeRawBufferPointer {
        let end = min(octets.count, offset + max(0, count))
        let start = min(offset, end)
        offset = end
        return UnsafeRawBufferPointer(rebasing: octets[start..<end])
    }

    /// A run whose length is given by the next octet (0...255).
    public mutating func lengthPrefixedBytes() -> UnsafeRawBufferPointer { bytes(Int(byte())) }

    /// Everything not read yet.
    public mutating func rest() -> UnsafeRawBufferPointer { bytes(remainingCount) }

    /// One of `choices`, picked by the next octet.
    public mutating func pick<T>(_ choices: [T]) -> T {
        choices[Int(byte()) % choices.count]
    }
}

/// Stops the process when a harness's invariant does not hold: libFuzzer reports the trap as a crash and
/// writes the input that caused it. Only harnesses use this; the code under test never traps on input.
public func fuzzCheck(
    _ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID,
    line: UInt = #line
) {
    if !condition() { fatalError("fuzz invariant broken: \(message())", file: file, line: line) }
}

@_silgen_name("__lsan_disable") private func lsanDisable()
@_silgen_name("__lsan_enable") private func lsanEnable()

/// Makes a value that lives for the whole process (a harness's fixed SAs) without LeakSanitizer
/// counting it. LeakSanitizer cannot follow a pointer that Swift stores with tag bits in it (the payload
/// of an enum such as PacketProtection), so a global reached only that way looks leaked; what is made
/// here is never freed on purpose. Everything made per input is still checked.
public func longLived<T>(_ make: () -> T) -> T {
    lsanDisable()
    defer { lsanEnable() }
    return make()
}
