internal import TernCrypto

extension SecurityAssociation {
    /// The label that keys the fingerprint's HMAC: a fixed, public value, so the fingerprint is a
    /// one-way function of the keys (never the keys themselves) that any run computes alike.
    static let fingerprintLabel = Array("tern security association state fingerprint v1".utf8)

    /// A one-way fingerprint of this SA's SPI, suite and four keys (HMAC-SHA256 under a fixed label),
    /// as 64 hex digits: what a state file is keyed by, so a key changed under the same SPI starts a
    /// fresh sequence space (docs/tunnel.md, "Restarts"). Reveals nothing about the keys.
    public func keyFingerprint() throws(SecurityAssociationError) -> String {
        var material: [UInt8] = []
        let spi = securityParameterIndex.rawValue
        material += [UInt8(truncatingIfNeeded: spi >> 24), UInt8(truncatingIfNeeded: spi >> 16),
            UInt8(truncatingIfNeeded: spi >> 8), UInt8(truncatingIfNeeded: spi)]
        material += [UInt8(truncatingIfNeeded: suite.rawValue >> 8), UInt8(truncatingIfNeeded: suite.rawValue)]
        // Each key with its length first, so that no two key sets give the same octets.
        for key in [
            mobileNodeToHomeAgent.encryptionKey, mobileNodeToHomeAgent.integrityKey,
            homeAgentToMobileNode.encryptionKey, homeAgentToMobileNode.integrityKey,
        ] {
            material += [UInt8(truncatingIfNeeded: key.count >> 8), UInt8(truncatingIfNeeded: key.count)] + key
        }
        defer { material.withUnsafeMutableBytes { secureZero($0) } }
        do {
            let digest = try HMACContext(.sha256, key: Self.fingerprintLabel).authenticate(material)
            return digest.map { byte in
                let digits = Array("0123456789abcdef".utf8)
                return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 0x0f)]], as: UTF8.self)
            }.joined()
        } catch {
            throw .crypto("cannot compute the SA's key fingerprint: \(error)")
        }
    }
}
