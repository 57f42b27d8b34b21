internal import COpenSSL

/// AES-XCBC-MAC (RFC 3566) on OpenSSL's AES; with ``truncatedLength`` octets it is AES-XCBC-MAC-96.
///
/// RFC 3566 §4: derive K1 = AES-K(0x01…01), K2 = AES-K(0x02…02), K3 = AES-K(0x03…03) with AES-128-ECB;
/// chain E[i] = AES-K1(M[i] ⊕ E[i−1]) from E[0] = 0; the last block is M[n] ⊕ K2 when it is whole, or
/// M[n] ‖ 10…0 ⊕ K3 when it is short (or the message is empty), and its encryption is the MAC.
///
/// That chain is exactly AES-128-CBC under K1 with a zero IV, so it runs as CBC encryption through a
/// reused `EVP_CIPHER_CTX` — OpenSSL's AES, no hand-written block cipher — into a fixed scratch buffer,
/// keeping only the last ciphertext block. No allocation per message. Not thread-safe.
public final class AESXCBCMAC {
    /// RFC 3566 §4.1: 128-bit keys only.
    public static let keyLength = 16
    public static let blockLength = 16
    /// The full MAC.
    public static let macLength = 16
    /// AES-XCBC-MAC-96 keeps the first 96 bits (RFC 3566 §4.3).
    public static let truncatedLength = 12
    /// Octets of message fed to OpenSSL per call; the CBC output for them lands in the scratch buffer.
    static let chunkLength = 1024

    private let chain: CipherContext
    /// K2 ‖ K3, zeroed on deinit.
    private let subkeys: UnsafeMutableRawBufferPointer
    private let scratchBase: UnsafeMutableRawPointer
    private let scratch: UnsafeMutableRawBufferPointer
    /// 16 zero octets: the chain's IV (E[0] = 0, RFC 3566 §4 step 2).
    private let zeroIV: UnsafeMutableRawPointer

    public init(key: UnsafeRawBufferPointer) throws(CryptoError) {
        (chain, subkeys) = try Self.deriveKeys(key).get()
        (scratchBase, scratch, zeroIV) = Self.allocateWorkspace()
    }

    public init(key: [UInt8]) throws(CryptoError) {
        (chain, subkeys) = try key.withUnsafeBytes { Self.deriveKeys($0) }.get()
        (scratchBase, scratch, zeroIV) = Self.allocateWorkspace()
    }

    /// RFC 3566 §4 step 1: K1, K2, K3 from AES-128-ECB; returns the CBC chain keyed with K1 and K2 ‖ K3.
    private static func deriveKeys(
        _ key: UnsafeRawBufferPointer
    ) -> Result<(CipherContext, UnsafeMutableRawBufferPointer), CryptoError> {
        capturing { () throws(CryptoError) in
            guard key.count == keyLength else {
                throw CryptoError("AES-XCBC-MAC key", detail: "needs \(keyLength) octets, got \(key.count)")
            }
            let derive = try CipherContext(.aes128ECB, direction: .encrypt, key: key)
            // K1 | K2 | K3, each the encryption of its constant block.
            let derivedBase = UnsafeMutableRawPointer.allocate(byteCount: 3 * blockLength, alignment: 16)
            let derived = UnsafeMutableRawBufferPointer(start: derivedBase, count: 3 * blockLength)
            defer {
                secureZero(derived)
                derivedBase.deallocate()
            }
            for index in 0..<3 {
                UnsafeMutableRawBufferPointer(rebasing: derived[index * blockLength..<(index + 1) * blockLength])
                    .initializeMemory(as: UInt8.self, repeating: UInt8(index + 1))
            }
            try derive.transform(iv: nil, data: derived)
            let chain = try CipherContext(
                .aes128CBC, direction: .encrypt, key: UnsafeRawBufferPointer(rebasing: derived[0..<blockLength]))
            let subkeyBase = UnsafeMutableRawPointer.allocate(byteCount: 2 * blockLength, alignment: 16)
            let subkeys = UnsafeMutableRawBufferPointer(start: subkeyBase, count: 2 * blockLength)
            subkeys.copyMemory(from: UnsafeRawBufferPointer(rebasing: derived[blockLength...]))
            return (chain, subkeys)
        }
    }

    private static func allocateWorkspace() -> (UnsafeMutableRawPointer, UnsafeMutableRawBufferPointer, UnsafeMutableRawPointer) {
        let scratchBase = UnsafeMutableRawPointer.allocate(byteCount: chunkLength, alignment: 16)
        let zeroIV = UnsafeMutableRawPointer.allocate(byteCount: blockLength, alignment: 16)
        zeroIV.initializeMemory(as: UInt8.self, repeating: 0, count: blockLength)
        return (scratchBase, UnsafeMutableRawBufferPointer(start: scratchBase, count: chunkLength), zeroIV)
    }

    deinit {
        secureZero(subkeys)
        subkeys.deallocate()
        secureZero(scratch)
        scratch.deallocate()
        zeroIV.deallocate()
    }

    /// Writes the full 16-octet MAC of `message` at `output` (the first 12 are AES-XCBC-MAC-96).
    public func authenticate(_ message: UnsafeRawBufferPointer, into output: UnsafeMutableRawPointer) throws(CryptoError) {
        let count = message.count
        // Every block but the last goes through the chain as it is; the last is special (§4, steps 3a–3b).
        let lastStart = count == 0 ? 0 : ((count - 1) / Self.blockLength) * Self.blockLength
        var first = true
        var offset = 0
        while offset < lastStart, let source = message.baseAddress {
            // The chain's ciphertext goes to the scratch buffer; only its last block matters.
            let length = min(Self.chunkLength, lastStart - offset)
            try chain.transform(
                iv: first ? UnsafeRawPointer(zeroIV) : nil, from: source + offset, to: scratchBase, count: length)
            first = false
            offset += length
        }
        // The last block, padded if short, then ⊕ K2 (whole) or K3 (short or empty message).
        let lastLength = count - lastStart
        let block = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<Self.blockLength])
        block.initializeMemory(as: UInt8.self, repeating: 0)
        if lastLength > 0, let source = message.baseAddress {
            block.copyMemory(from: UnsafeRawBufferPointer(start: source + lastStart, count: lastLength))
        }
        let subkeyOffset: Int
        if lastLength == Self.blockLength {
            subkeyOffset = 0
        } else {
            block[lastLength] = 0x80
            subkeyOffset = Self.blockLength
        }
        for index in 0..<Self.blockLength {
            block[index] ^= subkeys[subkeyOffset + index]
        }
        try chain.transform(iv: first ? UnsafeRawPointer(zeroIV) : nil, data: block)
        output.copyMemory(from: scratchBase, byteCount: Self.macLength)
    }

    /// The full MAC of `message`, for tests (allocates).
    public func authenticate(_ message: [UInt8]) throws(CryptoError) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: Self.macLength)
        try message.withUnsafeBytes { input in
            output.withUnsafeMutableBytes { out in
                capturing { () throws(CryptoError) in
                    guard let base = out.baseAddress else { throw CryptoError("AES-XCBC-MAC output") }
                    try authenticate(input, into: base)
                }
            }
        }.get()
        return output
    }
}
