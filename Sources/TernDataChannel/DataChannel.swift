internal import TernCrypto
public import TernProtocol

/// Framing shared by both directions: header checks, plaintext (PType 0) encapsulation, and the
/// per-suite protect/unprotect steps that the SAs call.
public enum DataChannel {
    /// The largest inner packet sealed in one datagram: an IPv4 packet's Total Length limit. Offloaded
    /// super-packets are segmented before they are sealed.
    public static let maximumPayloadLength = 65_535
    /// The most octets any suite adds around a payload: headroom + tailroom, for sizing buffers.
    public static let maximumOverhead = Ciphersuite.allCases.map { $0.headroom + $0.tailroom }.max() ?? 0
    /// The most headroom any suite needs in front of a payload.
    public static let maximumHeadroom = Ciphersuite.allCases.map(\.headroom).max() ?? 0
    /// The most tailroom any suite needs after a payload.
    public static let maximumTailroom = Ciphersuite.allCases.map(\.tailroom).max() ?? 0

    /// Reads the header of the datagram at `datagram` and checks what the Packet Type requires of SPI
    /// and Sequence Number (RFC 6618 §6.2, §6.4): PType 0 carries zeros; PType 1 and 8 never SPI 0 nor
    /// Sequence Number 0. The receiver uses the result to find the SA (by SPI, or for PType 0 by the
    /// outer address of a binding).
    @inline(__always)
    public static func parseHeader(
        _ buffer: UnsafeRawBufferPointer, datagram: Range<Int>
    ) throws(DataChannelDropReason) -> DataChannelHeader {
        guard datagram.lowerBound >= 0, datagram.upperBound <= buffer.count,
            let header = DataChannelHeader(from: buffer, at: datagram.lowerBound),
            datagram.count >= DataChannelHeader.length
        else { throw .truncatedHeader }
        switch header.packetType {
        case nil:
            throw .unknownPacketType
        case .plaintext:
            guard header.securityParameterIndexValue == 0, header.sequenceNumber == 0 else {
                throw .malformedPlaintext
            }
        case .userData, .mobilityHeader:
            guard header.securityParameterIndexValue != 0 else { throw .zeroSecurityParameterIndex }
            guard header.sequenceNumber != 0 else { throw .zeroSequenceNumber }
        }
        return header
    }

    /// Writes a PType 0 header (SPI 0, Sequence Number 0) in front of the inner packet at `payload`:
    /// RFC 6618 §6.4, Figure 9, for an SA with scope 0. Returns where the datagram lies.
    public static func encapsulatePlaintext(
        in buffer: UnsafeMutableRawBufferPointer, payload: Range<Int>
    ) throws(DataChannelSealError) -> Range<Int> {
        guard payload.count <= maximumPayloadLength else { throw .payloadTooLarge(payload.count) }
        let start = payload.lowerBound - DataChannelHeader.length
        guard start >= 0 else { throw .insufficientHeadroom(needed: DataChannelHeader.length) }
        guard payload.upperBound <= buffer.count else { throw .insufficientTailroom(needed: 0) }
        DataChannelHeader(packetType: .plaintext, securityParameterIndexValue: 0, sequenceNumber: 0)
            .write(to: buffer, at: start)
        return start..<payload.upperBound
    }

    /// What an inner IP packet is, from its version nibble, checked against what the sender declared.
    @inline(__always)
    static func innerPacketKind(
        _ buffer: UnsafeRawBufferPointer, payload: Range<Int>, nextHeader: UInt8?
    ) throws(DataChannelDropReason) -> OpenedDatagram.Kind {
        guard !payload.isEmpty else { throw .badInnerPacket }
        let version = buffer[payload.lowerBound] >> 4
        switch (version, nextHeader) {
        case (4, nil), (4, NextHeader.ipv4): return .ipv4
        case (6, nil), (6, NextHeader.ipv6): return .ipv6
        default: throw .badInnerPacket
        }
    }

    // MARK: - Per-suite transforms

    /// Encrypts `encryptedStart ..< trailerEnd` in place and writes the ICV or tag at `trailerEnd`.
    /// The header is already at `datagramStart`; for CBC the IV goes between them.
    @inline(__always)
    static func protect(
        _ protection: PacketProtection, buffer: UnsafeMutableRawBufferPointer, datagramStart: Int,
        encryptedStart: Int, trailerEnd: Int, sequenceNumber: UInt32, explicitIV: UnsafeRawBufferPointer?
    ) throws(CryptoError) {
        guard let base = buffer.baseAddress else { throw CryptoError("seal", detail: "empty buffer") }
        switch protection {
        case .aead(let cipher, let salt):
            var nonce = aeadNonce(salt: salt, sequenceNumber: sequenceNumber)
            try withUnsafeBytes(of: &nonce) { (nonceBytes) throws(CryptoError) in
                try cipher.seal(
                    nonce: nonceBytes.baseAddress.unsafelyUnwrapped,
                    aad: UnsafeRawBufferPointer(start: base + datagramStart, count: DataChannelHeader.length),
                    data: UnsafeMutableRawBufferPointer(rebasing: buffer[encryptedStart..<trailerEnd]),
                    tag: base + trailerEnd)
            }
        case .cbc(let cipher, let integrity, let ivPrefix):
            let ivStart = datagramStart + DataChannelHeader.length
            if let explicitIV {
                UnsafeMutableRawBufferPointer(rebasing: buffer[ivStart..<encryptedStart]).copyMemory(from: explicitIV)
                try cipher.transform(
                    iv: explicitIV.baseAddress,
                    data: UnsafeMutableRawBufferPointer(rebasing: buffer[encryptedStart..<trailerEnd]))
            } else {
                // The IV is the encryption of a unique block, prefix ‖ Seq, under the SA's own key: the
                // first method of NIST SP 800-38A Appendix C, unpredictable to anyone without the key.
                // Running CBC from a zero IV over (block ‖ payload) produces exactly that: the first
                // output block is E_K(block) — the IV — and the rest is the payload's CBC encryption
                // under it. One EVP call, no RNG call per packet.
                let sequenceOffset = encryptedStart - 4
                ivPrefix.withUnsafeBytes { prefix in
                    UnsafeMutableRawBufferPointer(rebasing: buffer[ivStart..<sequenceOffset]).copyMemory(from: prefix)
                }
                buffer.storeBigEndian(sequenceNumber, at: sequenceOffset)
                var zeroIV: (UInt64, UInt64) = (0, 0)
                try withUnsafeBytes(of: &zeroIV) { (zero) throws(CryptoError) in
                    try cipher.transform(
                        iv: zero.baseAddress,
                        data: UnsafeMutableRawBufferPointer(rebasing: buffer[ivStart..<trailerEnd]))
                }
            }
            try writeICV(integrity, over: UnsafeRawBufferPointer(rebasing: buffer[datagramStart..<trailerEnd]), to: base + trailerEnd)
        case .null(let integrity):
            try writeICV(integrity, over: UnsafeRawBufferPointer(rebasing: buffer[datagramStart..<trailerEnd]), to: base + trailerEnd)
        }
    }

    /// Verifies the ICV or tag at `encryptedEnd` and decrypts `encryptedStart ..< encryptedEnd` in place.
    /// Returns false when the packet is not authentic; nothing is decrypted then for the MAC suites.
    @inline(__always)
    static func unprotect(
        _ protection: PacketProtection, buffer: UnsafeMutableRawBufferPointer, datagramStart: Int,
        encryptedStart: Int, encryptedEnd: Int, sequenceNumber: UInt32
    ) throws(CryptoError) -> Bool {
        guard let base = buffer.baseAddress else { return false }
        switch protection {
        case .aead(let cipher, let salt):
            var nonce = aeadNonce(salt: salt, sequenceNumber: sequenceNumber)
            return try withUnsafeBytes(of: &nonce) { (nonceBytes) throws(CryptoError) -> Bool in
                try cipher.open(
                    nonce: nonceBytes.baseAddress.unsafelyUnwrapped,
                    aad: UnsafeRawBufferPointer(start: base + datagramStart, count: DataChannelHeader.length),
                    data: UnsafeMutableRawBufferPointer(rebasing: buffer[encryptedStart..<encryptedEnd]),
                    tag: base + encryptedEnd)
            }
        case .cbc(let cipher, let integrity, _):
            let authenticated = UnsafeRawBufferPointer(rebasing: buffer[datagramStart..<encryptedEnd])
            guard try verifyICV(integrity, over: authenticated, against: base + encryptedEnd) else { return false }
            let ivStart = datagramStart + DataChannelHeader.length
            try cipher.transform(
                iv: base + ivStart, data: UnsafeMutableRawBufferPointer(rebasing: buffer[encryptedStart..<encryptedEnd]))
            return true
        case .null(let integrity):
            let authenticated = UnsafeRawBufferPointer(rebasing: buffer[datagramStart..<encryptedEnd])
            return try verifyICV(integrity, over: authenticated, against: base + encryptedEnd)
        }
    }

    /// The RFC 8750 implicit nonce as 12 octets in wire order: salt ‖ 0x00000000 ‖ Seq.
    @inline(__always)
    static func aeadNonce(salt: UInt32, sequenceNumber: UInt32) -> (UInt32, UInt32, UInt32) {
        (salt.bigEndian, 0, sequenceNumber.bigEndian)
    }

    /// Octets of every -96 ICV (RFC 2404 §2, RFC 3566 §4.3).
    static let truncatedICVLength = 12

    @inline(__always)
    private static func writeICV(
        _ integrity: IntegrityTransform, over data: UnsafeRawBufferPointer, to output: UnsafeMutableRawPointer
    ) throws(CryptoError) {
        var mac: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        try withUnsafeMutableBytes(of: &mac) { (scratch) throws(CryptoError) in
            try integrity.compute(over: data, into: scratch.baseAddress.unsafelyUnwrapped)
            output.copyMemory(from: scratch.baseAddress.unsafelyUnwrapped, byteCount: truncatedICVLength)
        }
    }

    @inline(__always)
    private static func verifyICV(
        _ integrity: IntegrityTransform, over data: UnsafeRawBufferPointer, against received: UnsafeRawPointer
    ) throws(CryptoError) -> Bool {
        var mac: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        return try withUnsafeMutableBytes(of: &mac) { (scratch) throws(CryptoError) -> Bool in
            try integrity.compute(over: data, into: scratch.baseAddress.unsafelyUnwrapped)
            return ConstantTime.equal(scratch.baseAddress.unsafelyUnwrapped, received, count: truncatedICVLength)
        }
    }
}
