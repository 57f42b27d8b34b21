/// Merges the TCP (and, when the TUN device accepts USO, UDP) packets of one receive batch into
/// super-packets before they are written to the TUN device: GRO in user space, the TUN write side of the
/// offloads. One `write(2)` then carries up to `maximumSegmentCount` segments, and the kernel's stack sees
/// one packet instead of many, as it would behind a NIC doing GRO.
///
/// Use: for each packet opened in a batch, in order, `offer(_:packet:emit:)`; at the end of the batch,
/// `flush(emit:)`. `emit` is called with a virtio_net_hdr followed by a packet, ready for one write; the
/// bytes are valid only during the call.
///
/// The rules follow the kernel's `tcp_gro_receive`/`inet_gro_receive`/`ipv6_gro_receive` and
/// wireguard-go's `tun/offload_linux.go`. A packet joins the held flow of its connection when: same
/// addresses, ports and IP version; IPv4 without options, same TOS, TTL and DF, a valid header checksum
/// (Identification may differ); IPv6 without extension headers, same Traffic Class, Flow Label and Hop
/// Limit; TCP flags exactly ACK or ACK+PSH, same header length and option bytes (timestamps included),
/// Acknowledgment Number and Window; Sequence Number right after the flow's last octet; payload not longer
/// than the first segment's and the flow not closed by an earlier short or PSH segment; fewer than
/// `maximumSegmentCount` segments, at most 65 535 octets of IP packet, and within `bufferLength`. UDP the
/// same way, without the TCP fields, and never with a zero IPv4 checksum.
///
/// Checksums: a packet joins only when its TCP/UDP checksum verifies, because the super-packet goes to the
/// kernel as CHECKSUM_PARTIAL and would hide an error. The sum is taken while the packet is copied into
/// the flow's buffer (`InternetChecksum.copyAndSum`), so verification costs the additions on data already
/// being loaded, plus the 20–60 header octets and the pseudo-header. A packet that fails is written alone,
/// unchanged, for the kernel to drop and count.
///
/// Order: a packet that cannot join (another connection's packets aside) is written only after its own
/// connection's held flow, so each connection's packets reach the kernel in the order they came.
///
/// Memory: every buffer is allocated in `init`; `offer` and `flush` do not allocate. One instance per
/// thread; not thread-safe.
public final class ReceiveCoalescer {
    public static let defaultMaximumFlows = 8
    /// Segments in one super-packet at most (the kernel's GRO and UDP GSO limits are of this order).
    public static let maximumSegmentCount = 64
    /// Room for the largest IP packet a super-packet may be (65 535 octets) after its virtio_net_hdr.
    public static let defaultBufferLength = 65_535 + VirtioNetHeader.length
    /// `bufferLength` is raised to at least this: the virtio header, the longest IPv6+TCP headers, and
    /// some payload.
    public static let minimumBufferLength = VirtioNetHeader.length + 128
    /// The IPv4 Total Length and IPv6 Payload Length fields are 16 bits.
    static let maximumLengthField = 65_535

    public let maximumFlows: Int
    public let bufferLength: Int
    public let coalesceUDP: Bool

    /// `maximumFlows` buffers of `bufferLength` octets, each a virtio header's room then the flow's packet.
    private let storage: UnsafeMutableRawBufferPointer
    /// For a packet given with less than 10 octets in front of it.
    private let scratch: UnsafeMutableRawBufferPointer
    private let flows: UnsafeMutablePointer<CoalescedFlow>
    /// Counts started flows (kept behind a pointer: no exclusivity check per packet).
    private let clock: UnsafeMutablePointer<UInt64>

    /// - Parameters:
    ///   - maximumFlows: flows held at once (at least 1); when all are in use the oldest is written out.
    ///   - bufferLength: octets per flow buffer, virtio header included (at least `minimumBufferLength`).
    ///   - coalesceUDP: merge UDP too; only when the TUN device accepted USO (TUN_F_USO4/6).
    public init(
        maximumFlows: Int = ReceiveCoalescer.defaultMaximumFlows,
        bufferLength: Int = ReceiveCoalescer.defaultBufferLength, coalesceUDP: Bool
    ) {
        self.maximumFlows = max(1, maximumFlows)
        self.bufferLength = max(Self.minimumBufferLength, bufferLength)
        self.coalesceUDP = coalesceUDP
        storage = .allocate(byteCount: self.maximumFlows * self.bufferLength, alignment: 16)
        storage.initializeMemory(as: UInt8.self, repeating: 0)
        scratch = .allocate(byteCount: self.bufferLength, alignment: 16)
        scratch.initializeMemory(as: UInt8.self, repeating: 0)
        flows = .allocate(capacity: self.maximumFlows)
        flows.initialize(repeating: CoalescedFlow(), count: self.maximumFlows)
        clock = .allocate(capacity: 1)
        clock.initialize(to: 0)
    }

    deinit {
        storage.deallocate()
        scratch.deallocate()
        flows.deinitialize(count: maximumFlows)
        flows.deallocate()
        clock.deallocate()
    }

    /// Flows currently held (for tests and metrics).
    public var heldFlowCount: Int {
        var count = 0
        for index in 0..<maximumFlows where flows[index].isHeld { count += 1 }
        return count
    }

    /// Takes the packet at `packet` in `slot`: it joins or starts a held flow (copied; the slot may be
    /// reused as soon as this returns), or is emitted at once with a virtio_net_hdr (no GSO, flags 0)
    /// written into the 10 octets before it — after its own connection's held flow, if any, is emitted.
    /// With fewer than 10 octets before the packet it is copied to a scratch buffer first.
    ///
    /// - Returns: false when the packet was dropped without being emitted: `packet` is not inside `slot`,
    ///   or it must be copied and is longer than `bufferLength` − 10.
    @discardableResult
    public func offer(
        _ slot: UnsafeMutableRawBufferPointer, packet range: Range<Int>, emit: (UnsafeRawBufferPointer) -> Void
    ) -> Bool {
        guard range.lowerBound >= 0, range.upperBound <= slot.count else { return false }
        let packet = UnsafeRawBufferPointer(rebasing: slot[range])
        let candidate = CoalescingCandidate(packet, coalesceUDP: coalesceUDP)
        switch candidate.kind {
        case .unrelated:
            break
        case .addressesOnly:
            for index in 0..<maximumFlows where flows[index].isSameAddresses(candidate) { emitFlow(index, emit) }
        case .flowMember:
            if let index = flowIndex(of: candidate) { emitFlow(index, emit) }
        case .eligible:
            if let index = flowIndex(of: candidate) {
                switch append(packet, candidate, to: index) {
                case .joined: return true
                case .badChecksum:
                    emitFlow(index, emit)
                    return emitAlone(slot, range, emit)
                case .refused:
                    emitFlow(index, emit)
                }
            }
            // A PSH segment would close its flow at once: nothing gained by holding it.
            if candidate.hasPSH { break }
            let index = freeFlowIndex(emit)
            if start(packet, candidate, in: index) { return true }
        }
        return emitAlone(slot, range, emit)
    }

    /// Emits every held flow, oldest first: a flow of one packet as that packet (no GSO), a longer one as
    /// a super-packet. Call at the end of each batch.
    public func flush(emit: (UnsafeRawBufferPointer) -> Void) {
        while true {
            var oldest = -1
            for index in 0..<maximumFlows where flows[index].isHeld {
                if oldest < 0 || flows[index].started < flows[oldest].started { oldest = index }
            }
            guard oldest >= 0 else { return }
            emitFlow(oldest, emit)
        }
    }

    // MARK: - Flows

    /// The buffer of flow `index`: a virtio header's room, then the packet.
    @inline(__always)
    private func buffer(_ index: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: storage[(index * bufferLength)..<((index + 1) * bufferLength)])
    }

    @inline(__always)
    private func flowIndex(of candidate: CoalescingCandidate) -> Int? {
        for index in 0..<maximumFlows where flows[index].isSameConnection(candidate) { return index }
        return nil
    }

    /// A flow not in use, or the oldest one after emitting it.
    private func freeFlowIndex(_ emit: (UnsafeRawBufferPointer) -> Void) -> Int {
        var oldest = 0
        for index in 0..<maximumFlows {
            if !flows[index].isHeld { return index }
            if flows[index].started < flows[oldest].started { oldest = index }
        }
        emitFlow(oldest, emit)
        return oldest
    }

    /// Copies `packet` into flow `index`'s buffer as the first segment; false (flow left unused) when its
    /// transport checksum does not verify.
    private func start(_ packet: UnsafeRawBufferPointer, _ candidate: CoalescingCandidate, in index: Int) -> Bool {
        let target = buffer(index)
        guard packet.count <= target.count - VirtioNetHeader.length, let source = packet.baseAddress,
            let destination = target.baseAddress
        else { return false }
        let ip = candidate.ipHeaderLength
        let packetStart = destination + VirtioNetHeader.length
        packetStart.copyMemory(from: source, byteCount: ip)
        let transportLength = packet.count - ip
        let pseudo = CoalescingCandidate.pseudoHeaderSum(
            packet, isIPv6: candidate.isIPv6, isTCP: candidate.isTCP, transportLength: transportLength)
        let sum = InternetChecksum.copyAndSum(from: source + ip, to: packetStart + ip, count: transportLength, initial: pseudo)
        guard InternetChecksum.fold(sum) == 0xFFFF else { return false }
        let clockValue = clock.pointee
        clock.pointee = clockValue &+ 1
        flows[index] = CoalescedFlow(
            isHeld: true, identity: candidate.identity, ipSignature: candidate.ipSignature, ipHeaderLength: ip,
            headersLength: candidate.headersLength, acknowledgmentNumber: candidate.acknowledgmentNumber,
            window: candidate.window, nextSequenceNumber: candidate.sequenceNumber &+ UInt32(candidate.payloadLength),
            segmentSize: candidate.payloadLength, segmentCount: 1, length: packet.count, isClosed: false,
            started: clockValue)
        return true
    }

    private enum AppendResult { case joined, refused, badChecksum }

    /// Appends `packet`'s payload to flow `index` if the coalescing rules allow it.
    private func append(
        _ packet: UnsafeRawBufferPointer, _ candidate: CoalescingCandidate, to index: Int
    ) -> AppendResult {
        let flow = flows[index]
        let target = buffer(index)
        let newLength = flow.length + candidate.payloadLength
        let lengthField = flow.isIPv6 ? newLength - flow.ipHeaderLength : newLength
        guard !flow.isClosed, flow.ipSignature == candidate.ipSignature,
            flow.headersLength == candidate.headersLength, candidate.payloadLength <= flow.segmentSize,
            flow.segmentCount < Self.maximumSegmentCount, lengthField <= Self.maximumLengthField,
            VirtioNetHeader.length + newLength <= target.count, let source = packet.baseAddress,
            let destination = target.baseAddress
        else { return .refused }
        let held = UnsafeRawBufferPointer(rebasing: target[VirtioNetHeader.length...])
        if flow.isTCP {
            guard candidate.sequenceNumber == flow.nextSequenceNumber,
                candidate.acknowledgmentNumber == flow.acknowledgmentNumber, candidate.window == flow.window,
                Self.optionsEqual(packet, held, from: flow.ipHeaderLength + TransportHeaders.minimumTCPHeaderLength,
                    to: flow.headersLength)
            else { return .refused }
        }
        // Verify the newcomer's checksum while copying its payload behind the flow's; the flow's length
        // only grows once it verifies, so a failure leaves the flow as it was.
        let ip = candidate.ipHeaderLength
        var sum = CoalescingCandidate.pseudoHeaderSum(
            packet, isIPv6: candidate.isIPv6, isTCP: candidate.isTCP, transportLength: packet.count - ip)
        sum = InternetChecksum.sum(source + ip, count: candidate.headersLength - ip, initial: sum)
        sum = InternetChecksum.copyAndSum(
            from: source + candidate.headersLength, to: destination + VirtioNetHeader.length + flow.length,
            count: candidate.payloadLength, initial: sum)
        guard InternetChecksum.fold(sum) == 0xFFFF else { return .badChecksum }

        flows[index].length = newLength
        flows[index].segmentCount += 1
        flows[index].nextSequenceNumber = flow.nextSequenceNumber &+ UInt32(candidate.payloadLength)
        if candidate.payloadLength < flow.segmentSize { flows[index].isClosed = true }
        if candidate.hasPSH {
            flows[index].isClosed = true
            target[VirtioNetHeader.length + flow.ipHeaderLength + TransportHeaders.tcpFlagsOffset] |= TransportHeaders.psh
        }
        return .joined
    }

    /// The TCP option octets `from ..< to` are the same in both packets (options come in 4-octet words).
    @inline(__always)
    private static func optionsEqual(
        _ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, from start: Int, to end: Int
    ) -> Bool {
        var offset = start
        while offset + 4 <= end {
            guard a.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
                == b.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
            else { return false }
            offset += 4
        }
        return true
    }

    /// Writes flow `index` out and frees it: one packet as it came, two or more as a super-packet.
    private func emitFlow(_ index: Int, _ emit: (UnsafeRawBufferPointer) -> Void) {
        let flow = flows[index]
        guard flow.isHeld else { return }
        flows[index].isHeld = false
        let target = buffer(index)
        let total = VirtioNetHeader.length + flow.length
        guard flow.segmentCount > 1 else {
            VirtioNetHeader().write(to: target)
            emit(UnsafeRawBufferPointer(rebasing: target[0..<total]))
            return
        }
        let packet = UnsafeMutableRawBufferPointer(rebasing: target[VirtioNetHeader.length..<total])
        let ip = flow.ipHeaderLength
        if flow.isIPv6 {
            packet.storeBigEndian(UInt16(truncatingIfNeeded: flow.length - ip), at: 4)
        } else {
            packet.storeBigEndian(UInt16(truncatingIfNeeded: flow.length), at: 2)
            packet.storeBigEndian(
                InternetChecksum.ipv4HeaderChecksum(UnsafeRawBufferPointer(rebasing: packet[0..<ip])), at: 10)
        }
        let transportLength = flow.length - ip
        if !flow.isTCP { packet.storeBigEndian(UInt16(truncatingIfNeeded: transportLength), at: ip + 4) }
        let checksumOffset = flow.isTCP ? TransportHeaders.tcpChecksumOffset : TransportHeaders.udpChecksumOffset
        // CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum, not complemented; the kernel
        // (or the NIC) adds the rest and complements.
        let pseudo = CoalescingCandidate.pseudoHeaderSum(
            UnsafeRawBufferPointer(packet), isIPv6: flow.isIPv6, isTCP: flow.isTCP, transportLength: transportLength)
        packet.storeBigEndian(InternetChecksum.fold(pseudo), at: ip + checksumOffset)
        let gsoType: VirtioNetHeader.GSOType = flow.isTCP ? (flow.isIPv6 ? .tcpv6 : .tcpv4) : .udpL4
        VirtioNetHeader(
            flags: VirtioNetHeader.needsChecksumFlag, gsoType: gsoType,
            headerLength: UInt16(truncatingIfNeeded: flow.headersLength),
            gsoSize: UInt16(truncatingIfNeeded: flow.segmentSize), checksumStart: UInt16(truncatingIfNeeded: ip),
            checksumOffset: UInt16(truncatingIfNeeded: checksumOffset)
        ).write(to: target)
        emit(UnsafeRawBufferPointer(rebasing: target[0..<total]))
    }

    /// Emits the packet where it is, behind a plain virtio header, or from the scratch buffer when there
    /// is no room for the header in front of it.
    private func emitAlone(
        _ slot: UnsafeMutableRawBufferPointer, _ range: Range<Int>, _ emit: (UnsafeRawBufferPointer) -> Void
    ) -> Bool {
        if range.lowerBound >= VirtioNetHeader.length {
            let start = range.lowerBound - VirtioNetHeader.length
            VirtioNetHeader().write(to: UnsafeMutableRawBufferPointer(rebasing: slot[start..<range.lowerBound]))
            emit(UnsafeRawBufferPointer(rebasing: slot[start..<range.upperBound]))
            return true
        }
        let total = VirtioNetHeader.length + range.count
        guard total <= scratch.count else { return false }
        VirtioNetHeader().write(to: scratch)
        UnsafeMutableRawBufferPointer(rebasing: scratch[VirtioNetHeader.length..<total])
            .copyMemory(from: UnsafeRawBufferPointer(rebasing: slot[range]))
        emit(UnsafeRawBufferPointer(rebasing: scratch[0..<total]))
        return true
    }
}
