import Testing
import TernCrypto
import TernTestSupport

@Suite("HMAC through EVP_MAC")
struct HMACContextTests {
    @Test("HMAC-SHA1 and HMAC-SHA1-96: RFC 2202 §3 (truncation per RFC 2404 §2)", arguments: hmacSHA1Vectors)
    func sha1(vector: HMACVector) throws {
        let context = try HMACContext(.sha1, key: hex(vector.key))
        let mac = try context.authenticate(hex(vector.data))
        #expect(hexString(mac) == vector.mac, "\(vector.source)")
        #expect(hexString(mac.prefix(12)) == vector.mac96, "\(vector.source)")
    }

    @Test("HMAC-SHA256: RFC 4231 §4 (the MHAuth auth MAC of RFC 6618 §5.5.5)", arguments: hmacSHA256Vectors)
    func sha256(vector: HMACVector) throws {
        let context = try HMACContext(.sha256, key: hex(vector.key))
        let mac = try context.authenticate(hex(vector.data))
        // RFC 4231 §4.6 (Test Case 5) prints only the first 128 bits.
        #expect(hexString(mac).hasPrefix(vector.mac), "\(vector.source)")
        #expect(vector.mac.count == 64 || vector.mac.count == 32)
    }

    @Test("a keyed context gives the same MAC for every message it is reused for")
    func reuse() throws {
        let vector = hmacSHA1Vectors[1]
        let context = try HMACContext(.sha1, key: hex(vector.key))
        for _ in 0..<5 {
            #expect(hexString(try context.authenticate(hex(vector.data))) == vector.mac)
            _ = try context.authenticate(Array(repeating: 0xAB, count: 1500))
        }
    }

    @Test("an empty key is a key, not 'keep the previous key'")
    func emptyKey() throws {
        let context = try HMACContext(.sha256, key: [])
        // HMAC-SHA256 with an empty key over an empty message (a well-known value).
        #expect(
            hexString(try context.authenticate([]))
                == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
    }
}

@Suite("AES-XCBC-MAC on OpenSSL AES")
struct AESXCBCMACTests {
    @Test("AES-XCBC-MAC and -96: RFC 3566 §4.6, all seven cases", arguments: xcbcVectors)
    func knownAnswers(vector: XCBCVector) throws {
        let mac = try AESXCBCMAC(key: hex(vector.key)).authenticate(hex(vector.message))
        #expect(hexString(mac) == vector.mac, "\(vector.source)")
        #expect(hexString(mac.prefix(AESXCBCMAC.truncatedLength)) == vector.mac96, "\(vector.source)")
    }

    /// Lengths around the block and the 1024-octet chunk the implementation feeds OpenSSL at a time.
    /// Expected values from scripts/data-channel-vectors.py, which computes RFC 3566 block by block on
    /// pyca/cryptography's AES-ECB; message octet i is (13 i + 5) mod 256, key 00 01 … 0f.
    @Test(
        "chunk and block boundaries agree with an independent implementation",
        arguments: [
            (15, "a2da172c97d693623aab0bd4"), (17, "bfd70e8df0ba806e7d1e8991"), (1008, "ff8cad443efcbaab6bdb861b"),
            (1023, "93689547fa63fe0f9cf7b6ac"), (1024, "0ee492960da2890d3de00d4a"),
            (1025, "814bf2a6c296055fe3f87996"), (1040, "db447cbc8233ad1251c32afd"),
            (2047, "d958a580d8cf1ed64a39dcb2"), (2048, "8d9b1a6724c103100b1b2b1c"),
            (2049, "b9d1649a716301e67c78553e"), (4100, "c74b142bc80fce6b5eb2e0c3"),
        ])
    func boundaries(length: Int, expected: String) throws {
        let message = (0..<length).map { UInt8(truncatingIfNeeded: $0 * 13 + 5) }
        let context = try AESXCBCMAC(key: Array(0..<16))
        #expect(hexString(try context.authenticate(message).prefix(12)) == expected)
        // Reuse must not leak chain state from one message into the next.
        #expect(hexString(try context.authenticate(message).prefix(12)) == expected)
    }

    @Test("keys other than 128 bits are refused (RFC 3566 §4.1)", arguments: [0, 15, 17, 24, 32])
    func keyLength(length: Int) {
        #expect(throws: CryptoError.self) { try AESXCBCMAC(key: Array(repeating: 1, count: length)) }
    }
}
