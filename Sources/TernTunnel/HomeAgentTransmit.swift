import Synchronization
import TernDataChannel
import TernOS
import TernProtocol
import TernRoles

/// The Home Agent's sending thread: TUN → seal → UDP, and the Mobility Headers the receiving thread
/// queued (Binding Acknowledgements and Errors).
extension HomeAgentEngine {
    // MARK: TUN → seal → UDP

    /// Specialized for the OS devices: the daemon's loops make no witness-table call per packet.
    @_specialize(where Device == TunDevice, Transport == UDPSocket)
    func transmitLoop() {
        let poller = Poller([tun.readinessDescriptor, signalling.notifier.descriptor.rawValue, wakeUp.descriptor.rawValue])
        while !stopping.load(ordering: .acquiring) {
            do {
                let timeout = transmitter.withLock { $0.publication.pollTimeout(at: monotonicNanoseconds()) }
                let woken = try poller.wait(timeoutMilliseconds: timeout)
                try transmitter.withLock { (state) throws(SystemCallError) in
                    if woken { state.publication.changed() }
                    if poller.isReadable(1) { sendSignalling(state.batch, core: &state.core, counters: &state.counters) }
                    if poller.isReadable(0) { try drain(state) }
                    state.publishIfDue(to: counters, slot: 1)
                }
            } catch {
                events(.threadFailed(thread: "tern-ha-tx", error: error.description))
                return
            }
        }
        transmitter.withLock { $0.publishIfDue(to: counters, slot: 1, force: true) }
    }

    /// Reads what the TUN device holds (at most ``PacketPath/batchesPerWake`` batches), seals it for each Mobile
    /// Node and sends it. Returns whether anything was read.
    @discardableResult
    private func drain(_ state: HomeAgentTransmitState<Device>) throws(SystemCallError) -> Bool {
        var read = false
        for _ in 0..<PacketPath.batchesPerWake {
            state.core.beginBatch()
            let (count, tunEmpty) = try fill(
                state.batch, from: state.reader, families: state.families, core: &state.core,
                lanes: cryptoLanes.sending?.jobs, counters: &state.counters)
            handOnReservationRequests(&state.core)
            if let lanes = cryptoLanes.sending {
                lanes.run(counters: &state.counters)
                lanes.jobs.flush(
                    state.batch, count: count, families: state.families, ipv4: ipv4, ipv6: ipv6, counters: &state.counters)
            } else {
                PacketPath.flush(
                    state.batch, slots: 0..<count, families: state.families, ipv4: ipv4, ipv6: ipv6,
                    counters: &state.counters)
            }
            if count > 0 { read = true }
            if tunEmpty { break }
        }
        if read { state.publication.changed() }
        return read
    }

    /// The receiving thread, after it wrote packets into the TUN device: sends what the kernel answered
    /// at once, if the sending thread is not busy (it would find the same packets a wake-up later).
    @inline(__always)
    func sendAnswers() {
        _ = transmitter.withLockIfAvailable { state in
            // A TUN read error is the sending thread's to report, at its next wake-up.
            if (try? drain(state)) == true { state.publishIfDue(to: counters, slot: 1) }
        }
    }

    /// The core's "sequence reservation needed" events, to whoever persists reservations.
    @inline(__always)
    private func handOnReservationRequests(_ core: inout HomeAgentCore.Transmitter) {
        core.reservationRequests.drain { reservationRequests.post(($0.spi, $0.lastSent)) }
    }

    /// Reads packets from the TUN into the batch's slots and seals each for the Mobile Node the core
    /// routes it to. Returns how many slots are ready to send, and whether the TUN device ran dry.
    @inline(__always)
    private func fill(
        _ batch: DatagramBatch, from reader: TunReader<Device>, families isIPv6: UnsafeMutableBufferPointer<Bool>,
        core: inout HomeAgentCore.Transmitter, lanes: LaneJobs<SealJob>?, counters local: inout TunnelCounters
    ) throws(SystemCallError) -> (count: Int, tunEmpty: Bool) {
        var count = 0
        // Jobs of a batch a TUN read error cut short were never sent: they go with it.
        lanes?.removeAll()
        // One clock read per batch: a binding that expires mid-batch is honoured from the next one.
        let now = monotonicNanoseconds()
        while count < batch.capacity {
            let slot = batch.buffer(count)
            guard let length = try reader.next(into: PacketPath.readArea(slot), counters: &local) else { return (count, true) }
            let payload = PacketPath.payloadOffset..<(PacketPath.payloadOffset + length)
            guard let route = core.route(UnsafeRawBufferPointer(slot), payload: payload, now: now, counters: &local) else {
                continue
            }
            let session = route.session
            let endpoint = route.endpoint
            var pastSoftLimit = false
            guard let datagram = PacketPath.seal(
                payload: payload, in: slot, destination: route.destination, outbound: session.outbound,
                scope: session.scope, counters: &local, pastSoftLimit: &pastSoftLimit, lanes: lanes, slotIndex: count)
            else { continue }
            core.sealed(route, pastSoftLimit: pastSoftLimit)
            batch.prepareToSend(count, range: datagram, to: endpoint.remote, from: endpoint.local)
            isIPv6[count] = !endpoint.remote.address.isIPv4
            local.packetsSent &+= 1
            local.octetsSent &+= UInt64(length)
            count += 1
        }
        return (count, false)
    }

    /// Seals and sends every queued Mobility Header (Binding Acknowledgements, Binding Errors), each to
    /// the endpoint its request came from.
    private func sendSignalling(
        _ batch: DatagramBatch, core: inout HomeAgentCore.Transmitter, counters local: inout TunnelCounters
    ) {
        defer { handOnReservationRequests(&core) }
        for message in signalling.take() {
            let session = message.session
            guard core.maySignal(session, counters: &local) else { continue }
            guard let datagram = PacketPath.sealMobilityHeader(
                message.octets, in: batch.buffer(0), outbound: session.outbound, counters: &local)
            else { continue }
            _ = PacketPath.sendOne(
                batch, range: datagram, to: message.endpoint.remote, from: message.endpoint.local, ipv4: ipv4, ipv6: ipv6,
                counters: &local)
        }
    }
}

/// The Home Agent's sending side: the common state and its own view of the sessions.
final class HomeAgentTransmitState<Device: PacketDevice>: TransmitState<Device>, @unchecked Sendable {
    /// The core's sending half: routes, bindings and reservations.
    var core: HomeAgentCore.Transmitter

    init(tun: Device, slotLength: Int, tables: SessionTableSource) {
        core = HomeAgentCore.Transmitter(tables: tables)
        super.init(tun: tun, slotLength: slotLength)
    }
}
