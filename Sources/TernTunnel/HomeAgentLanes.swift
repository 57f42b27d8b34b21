import TernDataChannel
import TernProtocol

/// The Home Agent's receiving thread with crypto lanes (`tunnel.crypto-threads` > 1, docs/tunnel.md):
/// the ordered checks per datagram, the lanes, then the ordered rest.
extension HomeAgentDataPlane {
    /// With crypto lanes, the first, ordered step for one datagram: header, SPI and replay check, then a
    /// job for the lanes. PType 0 waits, whole, for ``finish(_:counters:state:)``: the binding that finds
    /// it may move with an earlier datagram of the batch.
    @inline(__always)
    func queue(
        _ datagram: ReceivedDatagram, lanes: CryptoWorkers<OpenJob>, counters local: inout TunnelCounters,
        state: inout ReceiverState
    ) {
        var job = OpenJob(datagram: datagram)
        do {
            let header = try DataChannel.parseHeader(UnsafeRawBufferPointer(datagram.buffer), datagram: datagram.range)
            if header.packetType != .plaintext {
                guard datagram.source != nil else { return local.drop(.unknownPlaintextSource) }
                guard let session = state.view.table.bySPI[header.securityParameterIndexValue] else {
                    return local.drop(.unknownSecurityParameterIndex)
                }
                job.step = try session.inbound.beginOpen(UnsafeRawBufferPointer(datagram.buffer), datagram: datagram.range)
                job.inbound = Unmanaged.passUnretained(session.inbound)
                job.session = Unmanaged.passUnretained(session)
            }
        } catch {
            return local.drop(error)
        }
        if lanes.jobs.isFull { finish(lanes, counters: &local, state: &state) }
        _ = lanes.jobs.append(job, octets: datagram.range.count)
    }

    /// With crypto lanes: authenticates the queued datagrams on the lanes, then, in arrival order, moves
    /// replay windows and bindings (only for what authenticated) and delivers.
    func finish(_ lanes: CryptoWorkers<OpenJob>, counters local: inout TunnelCounters, state: inout ReceiverState) {
        lanes.run(counters: &local)
        for index in 0..<lanes.jobs.count {
            guard let job = lanes.jobs[index] else { continue }
            guard let step = job.step, let session = job.session?.takeUnretainedValue() else {
                receive(job.datagram, counters: &local, state: &state)
                continue
            }
            do {
                let opened = try job.opened(by: session.inbound, step: step)
                handle(opened, of: job.datagram, session: session, counters: &local, state: &state)
            } catch {
                local.drop(error)
            }
        }
        lanes.jobs.removeAll()
    }
}
