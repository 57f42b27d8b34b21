/// Who a packet is from and to, as native words compared whole: what makes packets one connection.
struct FlowIdentity: Equatable {
    var isIPv6 = false
    var isTCP = false
    /// Source and destination addresses as native words (IPv4: both in `address0`).
    var address0: UInt64 = 0
    var address1: UInt64 = 0
    var address2: UInt64 = 0
    var address3: UInt64 = 0
    /// Source and destination ports as one native word.
    var ports: UInt32 = 0

    /// Same IP version and the same two addresses (ports and protocol aside).
    @inline(__always)
    func hasSameAddresses(as other: FlowIdentity) -> Bool {
        isIPv6 == other.isIPv6 && address0 == other.address0 && address1 == other.address1
            && address2 == other.address2 && address3 == other.address3
    }
}

/// What the coalescer needs to know about one offered packet, read once from its headers.
struct CoalescingCandidate {
    /// How far a packet may take part in coalescing.
    enum Kind {
        /// Not TCP/UDP over IP as far as can be told (ICMP, malformed, truncated): emitted alone; no flow
        /// can hold a packet of its connection.
        case unrelated
        /// An IPv4 fragment or an IPv6 packet with extension headers: its ports cannot be read, so every
        /// flow between the same two addresses is flushed before it.
        case addressesOnly
        /// A TCP or UDP packet that may not join (flags, options, no payload, a bad checksum, …): its own
        /// flow, if held, is flushed before it.
        case flowMember
        /// May join or start a flow.
        case eligible
    }

    var kind: Kind = .unrelated
    var identity = FlowIdentity()
    var isIPv6: Bool { identity.isIPv6 }
    var isTCP: Bool { identity.isTCP }
    /// The IP fields that must be equal along a flow: IPv4 TOS, TTL and the flag bits; IPv6 version,
    /// Traffic Class, Flow Label and Hop Limit.
    var ipSignature: UInt64 = 0
    var ipHeaderLength = 0
    var headersLength = 0
    var payloadLength = 0
    var sequenceNumber: UInt32 = 0
    var acknowledgmentNumber: UInt32 = 0
    var window: UInt16 = 0
    var hasPSH = false

    /// Reads `packet`. `coalesceUDP` false makes every UDP packet `.unrelated` (no UDP flow is ever held).
    @inline(__always)
    init(_ packet: UnsafeRawBufferPointer, coalesceUDP: Bool) {
        guard packet.count >= InnerPacket.minimumIPv4HeaderLength else { return }
        let version = packet[0] >> 4
        guard version == 4 || version == 6 else { return }
        identity.isIPv6 = version == 6
        if isIPv6 {
            guard packet.count >= InnerPacket.ipv6HeaderLength else { return }
            identity.address0 = packet.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
            identity.address1 = packet.loadUnaligned(fromByteOffset: 16, as: UInt64.self)
            identity.address2 = packet.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
            identity.address3 = packet.loadUnaligned(fromByteOffset: 32, as: UInt64.self)
        } else {
            identity.address0 = packet.loadUnaligned(fromByteOffset: 12, as: UInt64.self)
        }
        let headers: TransportHeaders
        switch TransportHeaders.parse(packet) {
        case .success(let parsed):
            headers = parsed
        case .failure(.fragment), .failure(.ipv6ExtensionHeaders):
            kind = .addressesOnly
            return
        case .failure:
            return
        }
        identity.isTCP = headers.isTCP
        guard isTCP || coalesceUDP else { return }
        ipHeaderLength = headers.ipHeaderLength
        headersLength = headers.headersLength
        payloadLength = packet.count - headersLength
        identity.ports = packet.loadUnaligned(fromByteOffset: ipHeaderLength, as: UInt32.self)
        kind = .flowMember
        if isIPv6 {
            ipSignature = UInt64(packet.loadUnaligned(fromByteOffset: 0, as: UInt32.self)) << 8 | UInt64(packet[7])
        } else {
            // IPv4 options, or a header checksum that does not verify: never merged (the kernel checks both).
            guard ipHeaderLength == InnerPacket.minimumIPv4HeaderLength,
                InternetChecksum.fold(InternetChecksum.sum(UnsafeRawBufferPointer(rebasing: packet[0..<20]))) == 0xFFFF
            else { return }
            ipSignature = UInt64(packet[1]) << 16 | UInt64(packet[8]) << 8 | UInt64(packet[6] & 0xE0)
        }
        guard payloadLength > 0 else { return }
        if isTCP {
            let flags = packet[ipHeaderLength + TransportHeaders.tcpFlagsOffset]
            // Only ACK, or ACK with PSH: SYN, FIN, RST, URG, ECE and CWR go through alone.
            guard flags == TransportHeaders.ack || flags == TransportHeaders.ack | TransportHeaders.psh else { return }
            hasPSH = flags & TransportHeaders.psh != 0
            sequenceNumber = packet.loadBigEndianUInt32(at: ipHeaderLength + 4)
            acknowledgmentNumber = packet.loadBigEndianUInt32(at: ipHeaderLength + 8)
            window = packet.loadBigEndianUInt16(at: ipHeaderLength + 14)
        } else {
            // UDP Length must be the datagram; a zero checksum over IPv4 means "none" and is not merged.
            guard Int(packet.loadBigEndianUInt16(at: ipHeaderLength + 4)) == packet.count - ipHeaderLength,
                isIPv6 || packet.loadBigEndianUInt16(at: ipHeaderLength + TransportHeaders.udpChecksumOffset) != 0
            else { return }
        }
        kind = .eligible
    }

    /// The pseudo-header sum for this packet's transport part, whose length is `transportLength`.
    @inline(__always)
    static func pseudoHeaderSum(
        _ packet: UnsafeRawBufferPointer, isIPv6: Bool, isTCP: Bool, transportLength: Int
    ) -> UInt32 {
        let offset = isIPv6 ? 8 : 12
        return InternetChecksum.pseudoHeaderSum(
            addresses: UnsafeRawBufferPointer(rebasing: packet[offset..<(offset + (isIPv6 ? 32 : 8))]),
            protocolNumber: isTCP ? InternetChecksum.protocolTCP : InternetChecksum.protocolUDP,
            length: transportLength)
    }
}

/// One flow held by the coalescer: a packet, possibly with more payload appended, in its own buffer.
struct CoalescedFlow {
    var isHeld = false
    var identity = FlowIdentity()
    var isIPv6: Bool { identity.isIPv6 }
    var isTCP: Bool { identity.isTCP }
    var ipSignature: UInt64 = 0
    var ipHeaderLength = 0
    var headersLength = 0
    var acknowledgmentNumber: UInt32 = 0
    var window: UInt16 = 0
    /// The sequence number the next segment must carry.
    var nextSequenceNumber: UInt32 = 0
    /// The first segment's payload length: every later one must be as long, the last may be shorter.
    var segmentSize = 0
    var segmentCount = 0
    /// IP packet octets held, after the virtio header's room at the start of the buffer.
    var length = 0
    /// After a PSH segment or a short one nothing more may join (tcp_gro_receive flushes there too).
    var isClosed = false
    /// Order in which flows were started, so the oldest is flushed first.
    var started: UInt64 = 0

    @inline(__always)
    func isSameConnection(_ candidate: CoalescingCandidate) -> Bool {
        isHeld && identity == candidate.identity
    }

    @inline(__always)
    func isSameAddresses(_ candidate: CoalescingCandidate) -> Bool {
        isHeld && identity.hasSameAddresses(as: candidate.identity)
    }
}
