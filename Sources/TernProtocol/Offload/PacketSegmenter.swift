/// Turns one read from a TUN device opened with `IFF_VNET_HDR` into ordinary IP packets: the TUN read side
/// of the offloads (the kernel's `tcp_gso_segment` and `__udp_gso_segment`, done in user space).
///
/// Built from the read's `VirtioNetHeader` and the packet after it; `next(into:)` then writes one complete
/// packet at a time into the caller's buffer, so segments can go straight into the slots of a send batch.
/// - `gsoType == .none`: the packet once, its checksum completed when `needsChecksum` is set (the kernel
///   left the pseudo-header sum at the checksum field), otherwise unchanged.
/// - TCPv4, TCPv6, UDP_L4: `segmentCount` packets carrying `gsoSize` payload octets each (the last may be
///   shorter), every header rewritten as the kernel would: IPv4 Total Length, Identification + index and
///   header checksum; IPv6 Payload Length; TCP Sequence Number advanced by the payload before it, FIN and
///   PSH kept only on the last segment and CWR only on the first; UDP Length; and the full TCP or UDP
///   checksum (pseudo-header, header, payload) of every segment.
///
/// The headers are taken from the packet itself, never from the virtio header's `headerLength`, which the
/// kernel fills with the whole linear part on the forward path (wireguard-go does the same). Everything is
/// validated in `init`; nothing here traps on any input.
///
/// `packet` is borrowed: the caller keeps it alive and unchanged until the last `next(into:)`, and the
/// destination must not overlap it. No allocation.
public struct PacketSegmenter {
    /// The most segments a super-packet may ask for. Linux never sends TCP segments smaller than 48 octets
    /// (TCP_MIN_SND_MSS, the floor of net.ipv4.tcp_min_snd_mss), so 64 KiB of payload is at most 1 366 of
    /// them; UDP GSO is capped far lower by the kernel (UDP_MAX_SEGMENTS). A super-packet asking for more
    /// did not come from a sane stack and is refused rather than turned into tens of thousands of packets.
    public static let maximumSegmentCount = 1_366

    private enum Mode {
        case whole
        case segments(TransportHeaders)
    }

    private let header: VirtioNetHeader
    private let packet: UnsafeRawBufferPointer
    private let mode: Mode
    private let segmentSize: Int
    /// Summed once: only the length part of the pseudo-header changes from segment to segment.
    private let addressSum: UInt32
    private let firstSequenceNumber: UInt32
    private let firstIdentification: UInt16
    /// How many packets `next(into:)` yields in all.
    public let segmentCount: Int
    /// How many it has yielded so far.
    public private(set) var segmentsWritten = 0

    /// Validates `header` against `packet`.
    ///
    /// - Throws: `OffloadError` naming the first inconsistency: an unparsable or fragmented IP packet, IPv6
    ///   extension headers, a transport protocol or IP version the GSO type does not allow, a checksum
    ///   location that is not the transport checksum field (or, for a single packet, lies outside it),
    ///   `gsoSize` 0, or more than `maximumSegmentCount` segments.
    public init(header: VirtioNetHeader, packet: UnsafeRawBufferPointer) throws(OffloadError) {
        self.header = header
        self.packet = packet
        guard header.gsoType != .none else {
            if header.needsChecksum {
                let start = Int(header.checksumStart)
                let field = start + Int(header.checksumOffset)
                guard start < packet.count, field + 2 <= packet.count else {
                    throw .checksumOutsidePacket(start: start, offset: Int(header.checksumOffset), length: packet.count)
                }
            }
            mode = .whole
            segmentSize = packet.count
            addressSum = 0
            firstSequenceNumber = 0
            firstIdentification = 0
            segmentCount = 1
            return
        }
        let headers: TransportHeaders
        switch TransportHeaders.parse(packet) {
        case .success(let parsed): headers = parsed
        case .failure(let error): throw error
        }
        let fits = switch header.gsoType {
        case .tcpv4: !headers.isIPv6 && headers.isTCP
        case .tcpv6: headers.isIPv6 && headers.isTCP
        case .udpL4: headers.protocolNumber == InternetChecksum.protocolUDP
        case .none: false
        }
        guard fits else {
            throw .gsoTypeMismatch(
                gsoType: header.gsoType.rawValue, ipVersion: headers.ipVersion, transportProtocol: headers.protocolNumber)
        }
        if header.needsChecksum {
            let expectedOffset = headers.checksumFieldOffset - headers.ipHeaderLength
            guard Int(header.checksumStart) == headers.ipHeaderLength, Int(header.checksumOffset) == expectedOffset else {
                throw .checksumLocationMismatch(start: Int(header.checksumStart), offset: Int(header.checksumOffset))
            }
        }
        guard header.gsoSize > 0 else { throw .zeroSegmentSize }
        segmentSize = Int(header.gsoSize)
        let payloadLength = packet.count - headers.headersLength
        // tcp_gso_segment leaves a packet no longer than one segment as it is: one segment, even empty.
        let count = payloadLength <= segmentSize ? 1 : (payloadLength + segmentSize - 1) / segmentSize
        guard count <= Self.maximumSegmentCount else { throw .tooManySegments(count) }
        segmentCount = count
        mode = .segments(headers)
        addressSum = InternetChecksum.sum(
            UnsafeRawBufferPointer(rebasing: packet[headers.addressOffset..<(headers.addressOffset + headers.addressesLength)]))
        firstSequenceNumber = headers.isTCP ? packet.loadBigEndianUInt32(at: headers.ipHeaderLength + 4) : 0
        firstIdentification = headers.isIPv6 ? 0 : packet.loadBigEndianUInt16(at: 4)
    }

    /// Writes the next packet at the start of `destination` and returns its length, or nil when every
    /// packet has been written.
    ///
    /// - Throws: `.destinationTooSmall` when the packet does not fit (nothing is consumed: a larger buffer
    ///   may be offered again); `.checksumOutsidePacket` cannot happen after a successful `init`.
    public mutating func next(into destination: UnsafeMutableRawBufferPointer) throws(OffloadError) -> Int? {
        guard segmentsWritten < segmentCount else { return nil }
        switch mode {
        case .whole:
            guard destination.count >= packet.count else {
                throw .destinationTooSmall(needed: packet.count, available: destination.count)
            }
            let output = UnsafeMutableRawBufferPointer(rebasing: destination[0..<packet.count])
            output.copyMemory(from: packet)
            try header.completeChecksum(in: output)
            segmentsWritten = 1
            return packet.count
        case .segments(let headers):
            let length = try writeSegment(segmentsWritten, headers, into: destination)
            segmentsWritten += 1
            return length
        }
    }

    @inline(__always)
    private func writeSegment(
        _ index: Int, _ headers: TransportHeaders, into destination: UnsafeMutableRawBufferPointer
    ) throws(OffloadError) -> Int {
        let headersLength = headers.headersLength
        let payloadStart = headersLength + index * segmentSize
        let payloadLength = min(segmentSize, packet.count - payloadStart)
        let length = headersLength + payloadLength
        guard destination.count >= length, let target = destination.baseAddress, let source = packet.baseAddress else {
            throw .destinationTooSmall(needed: length, available: destination.count)
        }
        let output = UnsafeMutableRawBufferPointer(start: target, count: length)
        target.copyMemory(from: source, byteCount: headersLength)
        let isFirst = index == 0
        let isLast = index == segmentCount - 1

        let ip = headers.ipHeaderLength
        if headers.isIPv6 {
            output.storeBigEndian(UInt16(truncatingIfNeeded: length - ip), at: 4)
        } else {
            output.storeBigEndian(UInt16(truncatingIfNeeded: length), at: 2)
            // inet_gso_segment: every segment after the first takes the next Identification.
            output.storeBigEndian(firstIdentification &+ UInt16(truncatingIfNeeded: index), at: 4)
            let ipHeader = UnsafeRawBufferPointer(rebasing: output[0..<ip])
            output.storeBigEndian(InternetChecksum.ipv4HeaderChecksum(ipHeader), at: 10)
        }

        let transportLength = length - ip
        if headers.isTCP {
            let sequence = firstSequenceNumber &+ UInt32(truncatingIfNeeded: index &* segmentSize)
            output.storeBigEndian(sequence, at: ip + 4)
            var flags = output[ip + TransportHeaders.tcpFlagsOffset]
            if !isLast { flags &= ~(TransportHeaders.fin | TransportHeaders.psh) }
            if !isFirst { flags &= ~TransportHeaders.cwr }
            output[ip + TransportHeaders.tcpFlagsOffset] = flags
        } else {
            output.storeBigEndian(UInt16(truncatingIfNeeded: transportLength), at: ip + 4)
        }
        let field = headers.checksumFieldOffset
        output.storeBigEndian(UInt16(0), at: field)
        let lengthSum = UInt32(truncatingIfNeeded: transportLength)
        var sum = UInt32(InternetChecksum.fold(
            addressSum &+ UInt32(headers.protocolNumber) &+ (lengthSum &>> 16) &+ (lengthSum & 0xFFFF)))
        sum = InternetChecksum.sum(UnsafeRawPointer(target + ip), count: headersLength - ip, initial: sum)
        sum = InternetChecksum.copyAndSum(
            from: source + payloadStart, to: target + headersLength, count: payloadLength, initial: sum)
        let checksum = ~InternetChecksum.fold(sum)
        // RFC 768: a computed 0 is sent as all ones, 0 meaning "no checksum" for UDP over IPv4.
        output.storeBigEndian(checksum == 0 && !headers.isTCP ? 0xFFFF : checksum, at: field)
        return length
    }
}
