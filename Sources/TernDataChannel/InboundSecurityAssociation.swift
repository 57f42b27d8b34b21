internal import TernCrypto
public import TernProtocol

/// The receiving half of an SA: checks, authenticates and decrypts datagrams in place (RFC 4303 §3.4 in
/// RFC 6618 §6's framing), and keeps the replay window.
///
/// Every rejection is a ``DataChannelDropReason`` thrown before anything reaches the caller; no input
/// traps. The replay window moves only after the ICV verifies, and ``OpenedDatagram/isNewest`` tells
/// whether this packet may move a binding (DESIGN.md, who may move a binding).
///
/// Not thread-safe: one receiving thread owns an instance. The one exception is
/// ``authenticate(_:in:lane:)``, which other threads may run at the same time as each other (each with a
/// lane of its own, on datagrams of its own) while the owner calls nothing else.
public final class InboundSecurityAssociation {
    public let securityParameterIndex: SecurityParameterIndex
    public let suite: Ciphersuite
    public let scope: SecurityAssociationScope
    public private(set) var replayWindow = ReplayWindow()
    /// One set of contexts per crypto lane (lane 0 first).
    private let lanes: [PacketProtection]

    /// - Parameters:
    ///   - lanes: how many threads may authenticate this SA's packets at once
    ///     (`tunnel.crypto-threads`): each gets contexts of its own, made here, once.
    ///   - receivedThrough: for an SA restored after a restart, the highest sequence number its previous
    ///     run may have accepted (persisted): it and every number below are refused. 0 for a new SA.
    public init(
        securityParameterIndex: SecurityParameterIndex, suite: Ciphersuite, scope: SecurityAssociationScope,
        keys: DirectionalKeys, lanes: Int = 1, receivedThrough: UInt32 = 0
    ) throws(SecurityAssociationError) {
        replayWindow = ReplayWindow(refusingThrough: receivedThrough)
        do {
            self.lanes = try PacketProtection.lanes(lanes, suite: suite, keys: keys, direction: .decrypt)
        } catch {
            throw .crypto(error.description)
        }
        self.securityParameterIndex = securityParameterIndex
        self.suite = suite
        self.scope = scope
    }

    /// Opens the datagram at `datagram` in `buffer`, in place.
    ///
    /// Accepts PType 0 only under scope 0 (and then without any integrity: the caller must match it to
    /// a binding by outer address and check its inner source), PType 1 and PType 8 under this SA's SPI.
    ///
    /// - Returns: what the datagram carried and where its payload lies in `buffer`.
    /// - Throws: the reason it was dropped.
    @inline(__always)
    public func open(
        _ buffer: UnsafeMutableRawBufferPointer, datagram: Range<Int>
    ) throws(DataChannelDropReason) -> OpenedDatagram {
        switch try beginOpen(UnsafeRawBufferPointer(buffer), datagram: datagram) {
        case .opened(let opened):
            return opened
        case .authenticate(let pending):
            try authenticate(pending, in: buffer, lane: 0)
            return try finishOpen(pending, in: UnsafeRawBufferPointer(buffer))
        }
    }

    /// Number of crypto lanes this SA has contexts for.
    public var laneCount: Int { lanes.count }

    /// The first, ordered step of ``open(_:datagram:)``, for the thread that owns the SA: header, SPI,
    /// the replay *check* (RFC 4303 §3.4.3: duplicates are rejected before the ICV is computed) and the
    /// length. PType 0 needs nothing more and comes back opened.
    @inline(__always)
    public func beginOpen(
        _ buffer: UnsafeRawBufferPointer, datagram: Range<Int>
    ) throws(DataChannelDropReason) -> OpenStep {
        let header = try DataChannel.parseHeader(buffer, datagram: datagram)
        guard let packetType = header.packetType else { throw .unknownPacketType }
        if packetType == .plaintext {
            guard scope == .signalingOnly else { throw .plaintextNotPermitted }
            let payload = (datagram.lowerBound + DataChannelHeader.length)..<datagram.upperBound
            let kind = try DataChannel.innerPacketKind(buffer, payload: payload, nextHeader: nil)
            return .opened(
                OpenedDatagram(packetType: .plaintext, kind: kind, payload: payload, sequenceNumber: 0, isNewest: false))
        }
        guard header.securityParameterIndexValue == securityParameterIndex.rawValue else {
            throw .unknownSecurityParameterIndex
        }
        let sequence = header.sequenceNumber
        try Self.requireAcceptable(replayWindow.check(sequence))

        let encryptedStart = datagram.lowerBound + suite.headroom
        let encryptedEnd = datagram.upperBound - suite.icvLength
        guard encryptedEnd - encryptedStart >= suite.alignment else { throw .truncated }
        guard (encryptedEnd - encryptedStart) % suite.alignment == 0 else { throw .misaligned }
        return .authenticate(
            PendingOpen(
                packetType: packetType, sequenceNumber: sequence, datagramStart: datagram.lowerBound,
                encryptedStart: encryptedStart, encryptedEnd: encryptedEnd))
    }

    /// The parallel step: verifies the ICV or tag and decrypts in place with `lane`'s contexts. Reads
    /// only what never changes after init (never the replay window), so lanes may run at once, each on
    /// datagrams of its own and with a lane number no other thread uses meanwhile.
    @inline(__always)
    public func authenticate(
        _ pending: PendingOpen, in buffer: UnsafeMutableRawBufferPointer, lane: Int
    ) throws(DataChannelDropReason) {
        guard lanes.indices.contains(lane) else { throw .cryptoFailure }
        let authentic: Bool
        do {
            authentic = try DataChannel.unprotect(
                lanes[lane], buffer: buffer, datagramStart: pending.datagramStart, encryptedStart: pending.encryptedStart,
                encryptedEnd: pending.encryptedEnd, sequenceNumber: pending.sequenceNumber)
        } catch {
            throw .cryptoFailure
        }
        guard authentic else { throw .authenticationFailed }
    }

    /// The last, ordered step, for the owning thread, in the order the datagrams arrived and only for one
    /// that ``authenticate(_:in:lane:)`` accepted: the replay window moves (RFC 4303 §3.4.3, DESIGN.md) —
    /// checking again, so a duplicate whose twin was accepted since ``beginOpen(_:datagram:)`` is refused
    /// here — and the trailer is read.
    @inline(__always)
    public func finishOpen(
        _ pending: PendingOpen, in buffer: UnsafeRawBufferPointer
    ) throws(DataChannelDropReason) -> OpenedDatagram {
        let verdict = replayWindow.accept(pending.sequenceNumber)
        try Self.requireAcceptable(verdict)

        let (payloadEnd, nextHeader) = try ESPTrailer.parse(buffer, data: pending.encryptedStart..<pending.encryptedEnd)
        let payload = pending.encryptedStart..<payloadEnd
        let kind: OpenedDatagram.Kind
        switch (pending.packetType, nextHeader) {
        case (.mobilityHeader, NextHeader.mobility):
            kind = .mobilityHeader
        case (.userData, NextHeader.noNextHeader):
            guard payload.isEmpty else { throw .badNextHeader }
            kind = .keepalive
        case (.userData, NextHeader.ipv4), (.userData, NextHeader.ipv6):
            kind = try DataChannel.innerPacketKind(buffer, payload: payload, nextHeader: nextHeader)
        default:
            throw .badNextHeader
        }
        return OpenedDatagram(
            packetType: pending.packetType, kind: kind, payload: payload, sequenceNumber: pending.sequenceNumber,
            isNewest: verdict == .newest)
    }

    @inline(__always)
    private static func requireAcceptable(_ verdict: ReplayWindow.Verdict) throws(DataChannelDropReason) {
        switch verdict {
        case .newest, .reordered: return
        case .duplicate: throw .replayed
        case .tooOld: throw .tooOld
        case .zero: throw .zeroSequenceNumber
        }
    }
}

/// What ``InboundSecurityAssociation/beginOpen(_:datagram:)`` found: a datagram already opened (PType 0),
/// or one to authenticate.
public enum OpenStep: Sendable {
    case opened(OpenedDatagram)
    case authenticate(PendingOpen)
}

/// A datagram that passed the ordered checks and waits for ``InboundSecurityAssociation/authenticate(_:in:lane:)``.
public struct PendingOpen: Sendable {
    public let packetType: PacketType
    public let sequenceNumber: UInt32
    let datagramStart: Int
    let encryptedStart: Int
    let encryptedEnd: Int
}

/// What an opened datagram carried.
public struct OpenedDatagram: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        /// An inner IPv4 packet for the TUN device.
        case ipv4
        /// An inner IPv6 packet for the TUN device.
        case ipv6
        /// A Mobility Header message (PType 8) for binding management.
        case mobilityHeader
        /// A keepalive: authenticated and replay-checked, then discarded (DESIGN.md).
        case keepalive
    }

    public let packetType: PacketType
    public let kind: Kind
    /// Where the inner packet or Mobility Header lies in the caller's buffer.
    public let payload: Range<Int>
    /// 0 for PType 0.
    public let sequenceNumber: UInt32
    /// True when the sequence number is greater than every one accepted before on this SA: only such a
    /// packet may move a binding (DESIGN.md, Newest packet). Always false for PType 0.
    public let isNewest: Bool
}
