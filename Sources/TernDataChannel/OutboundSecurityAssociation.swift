internal import TernCrypto
public import TernProtocol

/// The sending half of an SA: seals packets in place in a caller-owned buffer (RFC 6618 §6.3–6.4,
/// RFC 4303 §3.3).
///
/// The caller puts the payload at `payload` inside `buffer`, leaving at least ``Ciphersuite/headroom``
/// octets in front and ``Ciphersuite/tailroom`` behind; ``seal(_:nextHeader:in:payload:)`` writes the
/// header, IV, padding, trailer and ICV around it and encrypts in place. Nothing is allocated per packet.
///
/// Not thread-safe: one sending thread owns an instance (its sequence counter and cipher contexts).
public final class OutboundSecurityAssociation {
    public let securityParameterIndex: SecurityParameterIndex
    public let suite: Ciphersuite
    public private(set) var sequenceNumber: OutboundSequenceNumber
    let protection: PacketProtection

    /// - Parameter lastSentSequenceNumber: where a restored SA resumes (its persisted reservation);
    ///   0 for a new SA, whose first packet then carries 1.
    public init(
        securityParameterIndex: SecurityParameterIndex, suite: Ciphersuite, keys: DirectionalKeys,
        lastSentSequenceNumber: UInt32 = 0
    ) throws(SecurityAssociationError) {
        do {
            self.protection = try PacketProtection(suite: suite, keys: keys, direction: .encrypt)
        } catch {
            throw .crypto(error.description)
        }
        self.securityParameterIndex = securityParameterIndex
        self.suite = suite
        self.sequenceNumber = OutboundSequenceNumber(lastSent: lastSentSequenceNumber)
    }

    /// Seals the payload at `payload` in place.
    ///
    /// - Parameters:
    ///   - packetType: ``PacketType/userData`` or ``PacketType/mobilityHeader``.
    ///   - nextHeader: 4 or 41 for user data, 135 for a Mobility Header, 59 for a keepalive.
    ///   - buffer: the caller's buffer; only `payload` extended by the suite's head- and tailroom is touched.
    ///   - payload: where the payload lies in `buffer`.
    /// - Returns: where the datagram now lies in `buffer`, and its sequence number.
    /// - Throws: ``DataChannelSealError``; the packet is then not sent. After
    ///   ``DataChannelSealError/sequenceNumberExhausted`` the SA can send nothing more.
    @inline(__always)
    public func seal(
        _ packetType: PacketType, nextHeader: UInt8, in buffer: UnsafeMutableRawBufferPointer, payload: Range<Int>
    ) throws(DataChannelSealError) -> SealedDatagram {
        guard packetType != .plaintext else { throw .plaintextIsNotSealed }
        guard payload.count <= DataChannel.maximumPayloadLength else { throw .payloadTooLarge(payload.count) }
        let start = payload.lowerBound - suite.headroom
        guard start >= 0 else { throw .insufficientHeadroom(needed: suite.headroom) }
        let paddingLength = suite.paddingLength(forPayloadLength: payload.count)
        let trailerEnd = payload.upperBound + paddingLength + ESPTrailer.fixedLength
        let end = trailerEnd + suite.icvLength
        guard end <= buffer.count else { throw .insufficientTailroom(needed: end - payload.upperBound) }

        let sequence: UInt32
        do {
            sequence = try sequenceNumber.next()
        } catch {
            throw .sequenceNumberExhausted
        }
        do {
            try frame(
                packetType, nextHeader: nextHeader, in: buffer, payload: payload, start: start,
                sequenceNumber: sequence, explicitIV: nil)
        } catch {
            throw .crypto(error.description)
        }
        return SealedDatagram(
            range: start..<end, sequenceNumber: sequence, isPastSoftLimit: sequenceNumber.isPastSoftLimit)
    }

    /// Writes header and trailer around the payload and protects it: the part of sealing that every
    /// path shares once the room is checked and the sequence number is chosen.
    @inline(__always)
    private func frame(
        _ packetType: PacketType, nextHeader: UInt8, in buffer: UnsafeMutableRawBufferPointer, payload: Range<Int>,
        start: Int, sequenceNumber sequence: UInt32, explicitIV: UnsafeRawBufferPointer?
    ) throws(CryptoError) {
        DataChannelHeader(
            packetType: packetType, securityParameterIndexValue: securityParameterIndex.rawValue,
            sequenceNumber: sequence
        ).write(to: buffer, at: start)
        let trailerEnd = ESPTrailer.write(
            into: buffer, payloadEnd: payload.upperBound,
            paddingLength: suite.paddingLength(forPayloadLength: payload.count), nextHeader: nextHeader)
        try DataChannel.protect(
            protection, buffer: buffer, datagramStart: start, encryptedStart: payload.lowerBound,
            trailerEnd: trailerEnd, sequenceNumber: sequence, explicitIV: explicitIV)
    }

    /// Seals a keepalive (DESIGN.md: PType 1, Next Header 59, empty payload) whose header starts at
    /// `offset`.
    @inline(__always)
    public func sealKeepalive(
        in buffer: UnsafeMutableRawBufferPointer, at offset: Int = 0
    ) throws(DataChannelSealError) -> SealedDatagram {
        let payloadStart = offset + suite.headroom
        return try seal(.userData, nextHeader: NextHeader.noNextHeader, in: buffer, payload: payloadStart..<payloadStart)
    }

    /// Seals with a given sequence number and CBC IV instead of fresh ones: for known-answer tests against
    /// fixed vectors only. A fixed IV must never be used on the wire. The caller leaves the room.
    func seal(
        _ packetType: PacketType, nextHeader: UInt8, in buffer: UnsafeMutableRawBufferPointer, payload: Range<Int>,
        sequenceNumber forcedSequence: UInt32, explicitIV: [UInt8]
    ) throws -> Range<Int> {
        let start = payload.lowerBound - suite.headroom
        try explicitIV.withUnsafeBytes { iv in
            try frame(
                packetType, nextHeader: nextHeader, in: buffer, payload: payload, start: start,
                sequenceNumber: forcedSequence, explicitIV: iv)
        }
        let padding = suite.paddingLength(forPayloadLength: payload.count)
        return start..<(payload.upperBound + padding + ESPTrailer.fixedLength + suite.icvLength)
    }
}

/// Where a sealed datagram lies in the caller's buffer.
public struct SealedDatagram: Hashable, Sendable {
    public let range: Range<Int>
    public let sequenceNumber: UInt32
    /// The SA has passed its sequence soft limit: time to get a new one (DESIGN.md).
    public let isPastSoftLimit: Bool
}

/// Why a packet could not be sealed. These are the sender's own conditions, never a peer's doing.
public enum DataChannelSealError: Error, Hashable, Sendable, CustomStringConvertible {
    /// PType 0 is not sealed; use ``DataChannel/encapsulatePlaintext(in:payload:)``.
    case plaintextIsNotSealed
    case payloadTooLarge(Int)
    case insufficientHeadroom(needed: Int)
    case insufficientTailroom(needed: Int)
    /// 2^32 − 1 has been sent: the SA must be replaced (RFC 4303 §3.3.3).
    case sequenceNumberExhausted
    case crypto(String)

    public var description: String {
        switch self {
        case .plaintextIsNotSealed: "PType 0 packets are sent in the clear, not sealed"
        case .payloadTooLarge(let count):
            "payload of \(count) octets exceeds \(DataChannel.maximumPayloadLength)"
        case .insufficientHeadroom(let needed): "buffer needs \(needed) octets of headroom before the payload"
        case .insufficientTailroom(let needed): "buffer needs \(needed) octets of tailroom after the payload"
        case .sequenceNumberExhausted: "sequence numbers exhausted: the SA must be replaced"
        case .crypto(let detail): "sealing failed: \(detail)"
        }
    }
}
