internal import TernCrypto
public import TernProtocol

/// The sending half of an SA: seals packets in place in a caller-owned buffer (RFC 6618 §6.3–6.4,
/// RFC 4303 §3.3).
///
/// The caller puts the payload at `payload` inside `buffer`, leaving at least ``Ciphersuite/headroom``
/// octets in front and ``Ciphersuite/tailroom`` behind; ``seal(_:nextHeader:in:payload:)`` writes the
/// header, IV, padding, trailer and ICV around it and encrypts in place. Nothing is allocated per packet.
///
/// Not thread-safe: one sending thread owns an instance (its sequence counter and cipher contexts). The
/// one exception is ``protect(_:in:lane:)``, which other threads may run at the same time as each other
/// (each with a lane of its own, on datagrams of its own) while the owner calls nothing else.
public final class OutboundSecurityAssociation {
    public let securityParameterIndex: SecurityParameterIndex
    public let suite: Ciphersuite
    public private(set) var sequenceNumber: OutboundSequenceNumber
    /// Lane 0's contexts: what ``seal(_:nextHeader:in:payload:)`` uses.
    let protection: PacketProtection
    /// One set of contexts per crypto lane (lane 0 first), for ``protect(_:in:lane:)``.
    private let lanes: [PacketProtection]

    /// - Parameters:
    ///   - lastSentSequenceNumber: where a restored SA resumes (its persisted reservation); 0 for a new
    ///     SA, whose first packet then carries 1.
    ///   - lanes: how many threads may protect this SA's packets at once (`tunnel.crypto-threads`): each
    ///     gets contexts of its own, made here, once.
    public init(
        securityParameterIndex: SecurityParameterIndex, suite: Ciphersuite, keys: DirectionalKeys,
        lastSentSequenceNumber: UInt32 = 0, lanes: Int = 1
    ) throws(SecurityAssociationError) {
        do {
            self.lanes = try PacketProtection.lanes(lanes, suite: suite, keys: keys, direction: .encrypt)
            self.protection = self.lanes[0]
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
        let pending = try prepare(packetType, nextHeader: nextHeader, in: buffer, payload: payload)
        try protect(pending, in: buffer, lane: 0)
        return pending.sealed
    }

    /// Number of crypto lanes this SA has contexts for.
    public var laneCount: Int { lanes.count }

    /// The ordered half of sealing, for the thread that owns the SA: checks the room, takes the next
    /// sequence number, writes header, padding and trailer. The datagram is not protected yet: hand the
    /// result to ``protect(_:in:lane:)`` (any lane, any thread, once) before it is sent.
    @inline(__always)
    public func prepare(
        _ packetType: PacketType, nextHeader: UInt8, in buffer: UnsafeMutableRawBufferPointer, payload: Range<Int>
    ) throws(DataChannelSealError) -> PendingSeal {
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
        _ = writeFraming(
            packetType, nextHeader: nextHeader, in: buffer, payload: payload, start: start, sequenceNumber: sequence)
        return PendingSeal(
            sealed: SealedDatagram(
                range: start..<end, sequenceNumber: sequence, isPastSoftLimit: sequenceNumber.isPastSoftLimit),
            encryptedStart: payload.lowerBound, trailerEnd: trailerEnd)
    }

    /// The parallel half of sealing: encrypts and writes the ICV of a datagram ``prepare(_:nextHeader:in:payload:)``
    /// framed, with `lane`'s contexts. Reads only what never changes after init, so lanes may run at once,
    /// each on datagrams of its own and with a lane number no other thread uses meanwhile.
    @inline(__always)
    public func protect(
        _ pending: PendingSeal, in buffer: UnsafeMutableRawBufferPointer, lane: Int
    ) throws(DataChannelSealError) {
        guard lanes.indices.contains(lane) else { throw .crypto("no crypto lane \(lane) (the SA has \(lanes.count))") }
        do {
            try DataChannel.protect(
                lanes[lane], buffer: buffer, datagramStart: pending.sealed.range.lowerBound,
                encryptedStart: pending.encryptedStart, trailerEnd: pending.trailerEnd,
                sequenceNumber: pending.sealed.sequenceNumber, explicitIV: nil)
        } catch {
            throw .crypto(error.description)
        }
    }

    /// Writes header and trailer around the payload; returns where the trailer ends. The part of
    /// sealing that every path shares once the room is checked and the sequence number is chosen.
    @inline(__always)
    private func writeFraming(
        _ packetType: PacketType, nextHeader: UInt8, in buffer: UnsafeMutableRawBufferPointer, payload: Range<Int>,
        start: Int, sequenceNumber sequence: UInt32
    ) -> Int {
        DataChannelHeader(
            packetType: packetType, securityParameterIndexValue: securityParameterIndex.rawValue,
            sequenceNumber: sequence
        ).write(to: buffer, at: start)
        return ESPTrailer.write(
            into: buffer, payloadEnd: payload.upperBound,
            paddingLength: suite.paddingLength(forPayloadLength: payload.count), nextHeader: nextHeader)
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
        let trailerEnd = writeFraming(
            packetType, nextHeader: nextHeader, in: buffer, payload: payload, start: start, sequenceNumber: forcedSequence)
        try explicitIV.withUnsafeBytes { iv in
            try DataChannel.protect(
                protection, buffer: buffer, datagramStart: start, encryptedStart: payload.lowerBound,
                trailerEnd: trailerEnd, sequenceNumber: forcedSequence, explicitIV: iv)
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

/// A datagram framed (sequence number, header, trailer) but not protected yet: what
/// ``OutboundSecurityAssociation/prepare(_:nextHeader:in:payload:)`` hands to
/// ``OutboundSecurityAssociation/protect(_:in:lane:)``.
public struct PendingSeal: Sendable {
    /// Where the datagram will lie, and its sequence number.
    public let sealed: SealedDatagram
    let encryptedStart: Int
    let trailerEnd: Int
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
