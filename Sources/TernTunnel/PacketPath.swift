import TernDataChannel
import TernOS
import TernProtocol
import TernRoles

/// The per-packet mechanics both engines share: sizing slots, sealing an inner packet for the wire,
/// walking a received batch, sending. What a datagram means is decided by the TernRoles cores; this is
/// kept here once so the Home Agent and the Mobile Node engines cannot drift apart.
enum PacketPath {
    /// Where an inner packet is read into a slot: after the largest headroom any suite needs.
    static let payloadOffset = DataChannel.maximumHeadroom

    /// Batches a thread handles per wake-up before it polls again (so no socket starves the others).
    static let batchesPerWake = 8

    /// Octets per slot for a tunnel of `mtu`: headroom, the largest inner packet, tailroom; rounded to a
    /// cache line. One octet of slack lets a read detect a packet longer than the MTU.
    static func slotLength(mtu: Int) -> Int {
        (DataChannel.maximumHeadroom + mtu + 1 + DataChannel.maximumTailroom + 63) & ~63
    }

    /// Slots of a receiving batch whose sockets coalesce (UDP GRO): each slot holds a 64 KiB run.
    static let coalescedBatchCapacity = 32

    /// The receiving thread's batch: slots for one datagram each, or for a coalesced run each.
    static func receiveBatch(slotLength: Int, offloads: DataPlaneOffloads) -> DatagramBatch {
        offloads.receiveCoalescing
            ? DatagramBatch(capacity: coalescedBatchCapacity, slotLength: DatagramBatch.maximumCoalescedLength)
            : DatagramBatch(slotLength: slotLength)
    }

    /// The part of a slot the TUN device reads into.
    @inline(__always)
    static func readArea(_ slot: UnsafeMutableRawBufferPointer) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: slot[payloadOffset..<(slot.count - DataChannel.maximumTailroom)])
    }

    /// Seals (or, under scope 0, frames as PType 0) the inner packet at `payload` of `slot`. Returns the
    /// datagram's range, or nil after counting why it could not be sent. `pastSoftLimit` is set when the
    /// SA's sequence numbers passed the soft limit (DESIGN.md: time for a new SA).
    ///
    /// With crypto lanes (`lanes` not nil) the packet is only framed here, in order — sequence number,
    /// header, trailer — and its protection is queued as job `slotIndex` for the lanes, which must run
    /// before the slot is sent (``LaneJobs/flush(_:count:families:ipv4:ipv6:counters:)``).
    @inline(__always)
    static func seal(
        payload: Range<Int>, in slot: UnsafeMutableRawBufferPointer, destination: IPAddress,
        outbound: OutboundSecurityAssociation, scope: SecurityAssociationScope, counters: inout TunnelCounters,
        pastSoftLimit: inout Bool, lanes: LaneJobs<SealJob>? = nil, slotIndex: Int = 0
    ) -> Range<Int>? {
        do {
            if scope == .signalingOnly {
                return try DataChannel.encapsulatePlaintext(in: slot, payload: payload)
            }
            let nextHeader = destination.isIPv4 ? NextHeader.ipv4 : NextHeader.ipv6
            guard let lanes else {
                let sealed = try outbound.seal(.userData, nextHeader: nextHeader, in: slot, payload: payload)
                if sealed.isPastSoftLimit { pastSoftLimit = true }
                return sealed.range
            }
            let pending = try outbound.prepare(.userData, nextHeader: nextHeader, in: slot, payload: payload)
            if pending.sealed.isPastSoftLimit { pastSoftLimit = true }
            let job = SealJob(
                slot: slotIndex, buffer: slot, outbound: Unmanaged.passUnretained(outbound), pending: pending,
                innerLength: payload.count)
            // One job per slot: the table holds a batch's worth, so this never refuses.
            guard lanes.append(job, octets: pending.sealed.range.count) else { throw DataChannelSealError.crypto("no job slot") }
            return pending.sealed.range
        } catch {
            counters.drop(.sealFailed)
            return nil
        }
    }

    /// Copies a Mobility Header into `slot` behind the headroom and seals it as PType 8 (Next Header
    /// 135). Returns the datagram's range, or nil after counting why it could not be sent.
    static func sealMobilityHeader(
        _ octets: [UInt8], in slot: UnsafeMutableRawBufferPointer, outbound: OutboundSecurityAssociation,
        counters: inout TunnelCounters
    ) -> Range<Int>? {
        let payload = payloadOffset..<(payloadOffset + octets.count)
        guard payload.upperBound + DataChannel.maximumTailroom <= slot.count else {
            counters.drop(.sealFailed)
            return nil
        }
        octets.withUnsafeBytes { source in
            UnsafeMutableRawBufferPointer(rebasing: slot[payload]).copyMemory(from: source)
        }
        do {
            let sealed = try outbound.seal(.mobilityHeader, nextHeader: NextHeader.mobility, in: slot, payload: payload)
            counters.mobilityHeadersSent &+= 1
            return sealed.range
        } catch {
            counters.drop(.sealFailed)
            return nil
        }
    }

    /// Calls `body` for every datagram of the first `count` slots of a received batch, in order — several
    /// per slot where the kernel coalesced a run (UDP GRO: equal steps of its segment size, the last one
    /// shorter); counts truncated slots as drops.
    @inline(__always)
    static func forEachDatagram(
        in batch: DatagramBatch, count: Int, counters: inout TunnelCounters,
        _ body: (ReceivedDatagram, inout TunnelCounters) -> Void
    ) {
        for slot in 0..<count {
            guard !batch.wasTruncated(slot) else {
                counters.drop(.truncatedDatagram)
                continue
            }
            let buffer = batch.buffer(slot)
            let length = batch.receivedLength(slot)
            let source = batch.source(slot)
            let local = batch.localAddress(slot)
            let step = batch.segmentSize(slot)
            guard step > 0 else {
                body(ReceivedDatagram(buffer: buffer, range: 0..<length, source: source, local: local), &counters)
                continue
            }
            var start = 0
            while start < length {
                let end = min(start + step, length)
                body(ReceivedDatagram(buffer: buffer, range: start..<end, source: source, local: local), &counters)
                start = end
            }
        }
    }

    /// Writes an opened inner packet to the TUN device and counts it.
    @inline(__always)
    static func deliver<Device: PacketDevice>(
        _ payload: Range<Int>, of slot: UnsafeMutableRawBufferPointer, to tun: Device, counters: inout TunnelCounters
    ) {
        let packet = UnsafeRawBufferPointer(rebasing: slot[payload])
        if (try? tun.write(packet)) == true {
            counters.packetsReceived &+= 1
            counters.octetsReceived &+= UInt64(payload.count)
        } else {
            counters.drop(.tunWriteFailed)
        }
    }

    /// Sends one datagram, at `range` of slot 0, to `destination` from `source` on the socket of the
    /// destination's family; counts `send_failed` and returns false when it did not go out. For the rare
    /// single datagrams (signalling, keepalives), not the data path.
    static func sendOne<Transport: DatagramTransport>(
        _ batch: DatagramBatch, range: Range<Int>, to destination: SocketAddress, from source: LocalAddress,
        ipv4: Transport?, ipv6: Transport?, counters: inout TunnelCounters
    ) -> Bool {
        batch.prepareToSend(0, range: range, to: destination, from: source)
        var refused = 0
        guard let socket = destination.address.isIPv4 ? ipv4 : ipv6, socket.send(0..<1, of: batch, refused: &refused) == 1
        else {
            counters.drop(.sendFailed)
            return false
        }
        return true
    }

    /// Sends `slots` of `batch`, grouping runs by address family onto the matching socket.
    @inline(__always)
    static func flush<Transport: DatagramTransport>(
        _ batch: DatagramBatch, slots: Range<Int>, families isIPv6: UnsafeMutableBufferPointer<Bool>,
        ipv4: Transport?, ipv6: Transport?, counters: inout TunnelCounters
    ) {
        var start = slots.lowerBound
        while start < slots.upperBound {
            var end = start + 1
            while end < slots.upperBound && isIPv6[end] == isIPv6[start] { end += 1 }
            var refused = 0
            if let socket = isIPv6[start] ? ipv6 : ipv4 {
                let sent = socket.send(start..<end, of: batch, refused: &refused)
                for _ in sent..<(end - start) { counters.drop(.sendFailed) }
            } else {
                for _ in start..<end { counters.drop(.sendFailed) }
            }
            start = end
        }
    }
}
