// The shapes of the known-answer vectors in RFCVectors.swift. Hex strings, as the sources print them.

public struct HMACVector: Sendable {
    public let source, key, data, mac, mac96: String
    public init(source: String, key: String, data: String, mac: String, mac96: String) {
        (self.source, self.key, self.data, self.mac, self.mac96) = (source, key, data, mac, mac96)
    }
}

public struct XCBCVector: Sendable {
    public let source, key, message, mac, mac96: String
    public init(source: String, key: String, message: String, mac: String, mac96: String) {
        (self.source, self.key, self.message, self.mac, self.mac96) = (source, key, message, mac, mac96)
    }
}

/// A raw block-cipher (CBC) case: one key, IV, plaintext and ciphertext.
public struct BlockVector: Sendable {
    public let source, key, iv, plaintext, ciphertext: String
    public init(source: String, key: String, iv: String, plaintext: String, ciphertext: String) {
        (self.source, self.key, self.iv, self.plaintext, self.ciphertext) = (source, key, iv, plaintext, ciphertext)
    }
}

/// An AEAD case; `nonce` is the full nonce given to the cipher.
public struct AEADVector: Sendable {
    public let source, key, nonce, aad, plaintext, ciphertext, tag: String
    public init(
        source: String, key: String, nonce: String, aad: String, plaintext: String, ciphertext: String, tag: String
    ) {
        (self.source, self.key, self.nonce, self.aad) = (source, key, nonce, aad)
        (self.plaintext, self.ciphertext, self.tag) = (plaintext, ciphertext, tag)
    }
}

/// RFC 3602 §4 cases 5–8: whole ESP packets (encryption only; the RFC's examples carry no ICV).
public struct ESPCBCVector: Sendable {
    public let source, key: String
    public let spi, sequenceNumber: UInt32
    public let iv, payload: String
    public let nextHeader, padLength: UInt8
    public let preEncryption, espWithoutIPHeader: String
    public init(
        source: String, key: String, spi: UInt32, sequenceNumber: UInt32, iv: String, payload: String,
        nextHeader: UInt8, padLength: UInt8, preEncryption: String, espWithoutIPHeader: String
    ) {
        (self.source, self.key, self.spi, self.sequenceNumber) = (source, key, spi, sequenceNumber)
        (self.iv, self.payload, self.nextHeader, self.padLength) = (iv, payload, nextHeader, padLength)
        (self.preEncryption, self.espWithoutIPHeader) = (preEncryption, espWithoutIPHeader)
    }
}
