internal import TernCrypto
public import TernProtocol

/// The receiving half of an SA: checks, authenticates and decrypts datagrams in place (RFC 4303 §3.4 in
/// RFC 6618 §6's framing), and keeps the replay window.
///
/// Every rejection is a ``DataChannelDropReason`` thrown before anything reaches the caller; no input
/// traps. The replay window moves only after the ICV verifies, and ``OpenedDatagram/isNewest`` tells
/// whether this packet may move a binding (DESIGN.md, who may move a binding).
///
/// Not thread-safe: one receiving thread owns an instance.
public final class InboundSecurityAssociation {
    public let securityParameterIndex: SecurityParameterIndex
    public let suite: Ciphersuite
    public let scope: SecurityAssociationScope
    public private(set) var replayWindow = ReplayWindow()
    private let protection: PacketProtection

    public init(
        securityParameterIndex: SecurityParameterIndex, suite: Ciphersuite, scope: SecurityAssociationScope,
        keys: DirectionalKeys
    ) throws(SecurityAssociationError) {
        do {
            self.protection = try PacketProtection(suite: suite, keys: keys, direction: .decrypt)
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
        let readable = UnsafeRawBufferPointer(buffer)
        let header = try DataChannel.parseHeader(readable, datagram: datagram)
        guard let packetType = header.packetType else { throw .unknownPacketType }
        if packetType == .plaintext {
            guard scope == .signalingOnly else { throw .plaintextNotPermitted }
            let payload = (datagram.lowerBound + DataChannelHeader.length)..<datagram.upperBound
            let kind = try DataChannel.innerPacketKind(readable, payload: payload, nextHeader: nil)
            return OpenedDatagram(
                packetType: .plaintext, kind: kind, payload: payload, sequenceNumber: 0, isNewest: false)
        }
        guard header.securityParameterIndexValue == securityParameterIndex.rawValue else {
            throw .unknownSecurityParameterIndex
        }
        let sequence = header.sequenceNumber
        // RFC 4303 §3.4.3: reject duplicates before spending the ICV computation on them.
        try Self.requireAcceptable(replayWindow.check(sequence))

        let encryptedStart = datagram.lowerBound + suite.headroom
        let encryptedEnd = datagram.upperBound - suite.icvLength
        guard encryptedEnd - encryptedStart >= suite.alignment else { throw .truncated }
        guard (encryptedEnd - encryptedStart) % suite.alignment == 0 else { throw .misaligned }

        let authentic: Bool
        do {
            authentic = try DataChannel.unprotect(
                protection, buffer: buffer, datagramStart: datagram.lowerBound, encryptedStart: encryptedStart,
                encryptedEnd: encryptedEnd, sequenceNumber: sequence)
        } catch {
            throw .cryptoFailure
        }
        guard authentic else { throw .authenticationFailed }
        // Only now, with the ICV verified, does the window move (RFC 4303 §3.4.3, DESIGN.md).
        let verdict = replayWindow.accept(sequence)
        try Self.requireAcceptable(verdict)

        let (payloadEnd, nextHeader) = try ESPTrailer.parse(readable, data: encryptedStart..<encryptedEnd)
        let payload = encryptedStart..<payloadEnd
        let kind: OpenedDatagram.Kind
        switch (packetType, nextHeader) {
        case (.mobilityHeader, NextHeader.mobility):
            kind = .mobilityHeader
        case (.userData, NextHeader.noNextHeader):
            guard payload.isEmpty else { throw .badNextHeader }
            kind = .keepalive
        case (.userData, NextHeader.ipv4), (.userData, NextHeader.ipv6):
            kind = try DataChannel.innerPacketKind(readable, payload: payload, nextHeader: nextHeader)
        default:
            throw .badNextHeader
        }
        return OpenedDatagram(
            packetType: packetType, kind: kind, payload: payload, sequenceNumber: sequence,
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
