import Testing
import TernCrypto
import TernTestSupport

/// Runs a block-mode context over `input` and returns the output.
private func run(_ context: CipherContext, iv: [UInt8], _ input: [UInt8]) throws -> [UInt8] {
    var data = input
    try iv.withUnsafeBytes { ivBytes in
        try data.withUnsafeMutableBytes { try context.transform(iv: ivBytes.baseAddress, data: $0) }
    }
    return data
}

private func seal(_ context: CipherContext, _ vector: AEADVector) throws -> (ciphertext: [UInt8], tag: [UInt8]) {
    var data = hex(vector.plaintext)
    var tag = [UInt8](repeating: 0, count: 16)
    try hex(vector.nonce).withUnsafeBytes { nonce in
        try hex(vector.aad).withUnsafeBytes { aad in
            try data.withUnsafeMutableBytes { buffer in
                try tag.withUnsafeMutableBytes { tagBytes in
                    try context.seal(nonce: nonce.baseAddress!, aad: aad, data: buffer, tag: tagBytes.baseAddress!)
                }
            }
        }
    }
    return (data, tag)
}

private func open(_ context: CipherContext, _ vector: AEADVector, tag: [UInt8]) throws -> (Bool, [UInt8]) {
    var data = hex(vector.ciphertext)
    let verified = try hex(vector.nonce).withUnsafeBytes { nonce in
        try hex(vector.aad).withUnsafeBytes { aad in
            try data.withUnsafeMutableBytes { buffer in
                try tag.withUnsafeBytes { tagBytes in
                    try context.open(nonce: nonce.baseAddress!, aad: aad, data: buffer, tag: tagBytes.baseAddress!)
                }
            }
        }
    }
    return (verified, data)
}

@Suite("EVP cipher contexts")
struct CipherContextTests {
    @Test("AES-128-CBC: RFC 3602 §4 cases 1–4, both directions", arguments: aesCBCVectors)
    func aesCBC(vector: BlockVector) throws {
        let key = hex(vector.key)
        let encrypt = try CipherContext(.aes128CBC, direction: .encrypt, key: key)
        #expect(hexString(try run(encrypt, iv: hex(vector.iv), hex(vector.plaintext))) == vector.ciphertext)
        let decrypt = try CipherContext(.aes128CBC, direction: .decrypt, key: key)
        #expect(hexString(try run(decrypt, iv: hex(vector.iv), hex(vector.ciphertext))) == vector.plaintext)
    }

    @Test("3DES-EDE-CBC: NIST CAVP TCBCMMT3 (RFC 2451 has no vectors)", arguments: tripleDESVectors)
    func tripleDES(vector: BlockVector) throws {
        let key = hex(vector.key)
        let encrypt = try CipherContext(.tripleDESCBC, direction: .encrypt, key: key)
        #expect(hexString(try run(encrypt, iv: hex(vector.iv), hex(vector.plaintext))) == vector.ciphertext)
        let decrypt = try CipherContext(.tripleDESCBC, direction: .decrypt, key: key)
        #expect(hexString(try run(decrypt, iv: hex(vector.iv), hex(vector.ciphertext))) == vector.plaintext)
    }

    @Test("a context keyed once serves many messages, each with its own IV")
    func reuse() throws {
        let encrypt = try CipherContext(.aes128CBC, direction: .encrypt, key: hex(aesCBCVectors[2].key))
        for vector in [aesCBCVectors[2], aesCBCVectors[2]] {
            _ = try run(encrypt, iv: Array(repeating: 7, count: 16), Array(repeating: 9, count: 64))
            #expect(hexString(try run(encrypt, iv: hex(vector.iv), hex(vector.plaintext))) == vector.ciphertext)
        }
    }

    @Test(
        "AES-GCM: McGrew–Viega Appendix B and draft-mcgrew-gcm-test-01 ESP cases",
        arguments: gcmVectors + gcmESPVectors)
    func gcm(vector: AEADVector) throws {
        let key = hex(vector.key)
        let algorithm: CipherContext.Algorithm = key.count == 16 ? .aes128GCM : .aes256GCM
        let nonceLength = hex(vector.nonce).count
        let sealer = try CipherContext(algorithm, direction: .encrypt, key: key, nonceLength: nonceLength)
        let (ciphertext, tag) = try seal(sealer, vector)
        #expect(hexString(ciphertext) == vector.ciphertext, "\(vector.source)")
        #expect(hexString(tag) == vector.tag, "\(vector.source)")

        let opener = try CipherContext(algorithm, direction: .decrypt, key: key, nonceLength: nonceLength)
        let (verified, plaintext) = try open(opener, vector, tag: tag)
        #expect(verified)
        #expect(hexString(plaintext) == vector.plaintext)
        var forged = tag
        forged[15] ^= 1
        #expect(try open(opener, vector, tag: forged).0 == false, "a flipped tag bit must not verify")
        // The context is usable again after a failure.
        #expect(try open(opener, vector, tag: tag).0)
    }

    @Test("ChaCha20-Poly1305: RFC 8439 §2.8.2 and the RFC 7634 Appendix A ESP example", arguments: chachaVectors)
    func chacha(vector: AEADVector) throws {
        let key = hex(vector.key)
        let (ciphertext, tag) = try seal(try CipherContext(.chacha20Poly1305, direction: .encrypt, key: key), vector)
        #expect(hexString(ciphertext) == vector.ciphertext, "\(vector.source)")
        #expect(hexString(tag) == vector.tag, "\(vector.source)")
        let opener = try CipherContext(.chacha20Poly1305, direction: .decrypt, key: key)
        let (verified, plaintext) = try open(opener, vector, tag: tag)
        #expect(verified)
        #expect(hexString(plaintext) == vector.plaintext)
    }

    @Test("wrong key lengths are refused with the algorithm named", arguments: CipherContext.Algorithm.allCases)
    func keyLengths(algorithm: CipherContext.Algorithm) {
        for length in [0, algorithm.keyLength - 1, algorithm.keyLength + 1] {
            #expect(throws: CryptoError.self) {
                try CipherContext(algorithm, direction: .encrypt, key: [UInt8](repeating: 1, count: length))
            }
        }
    }
}

@Suite("Random octets and constant-time comparison")
struct SupportTests {
    @Test func randomOctetsDiffer() throws {
        let a = try SecureRandom.bytes(count: 32)
        let b = try SecureRandom.bytes(count: 32)
        #expect(a.count == 32 && a != b)
    }

    @Test func constantTimeEquality() {
        #expect(ConstantTime.equal([1, 2, 3], [1, 2, 3]))
        #expect(!ConstantTime.equal([1, 2, 3], [1, 2, 4]))
        #expect(!ConstantTime.equal([1, 2, 3], [1, 2]))
        #expect(ConstantTime.equal([], []))
    }
}
