import TernDataChannel
import TernOS
import TernRoles

/// The Mobile Node's receiving thread with crypto lanes (`tunnel.crypto-threads` > 1, docs/tunnel.md):
/// the ordered checks per datagram, the lanes, then the ordered rest.
extension MobileNodeDataPlane {
    /// With crypto lanes, the first, ordered step for one datagram: the checks before any crypto
    /// (source, SPI, replay check), then a job for the lanes. A full job table is finished first.
    @inline(__always)
    func queue(
        _ datagram: ReceivedDatagram, associations: AssociationSet, sink: InnerPacketSink,
        lanes: CryptoWorkers<OpenJob>, counters local: inout TunnelCounters
    ) {
        guard let source = datagram.source, homeAgents.contains(source) else {
            return local.drop(.notFromHomeAgent)
        }
        let buffer = datagram.buffer
        let inbound = associations.inbound(for: UnsafeRawBufferPointer(buffer), datagram: datagram.range)
        do {
            let step = try inbound.beginOpen(UnsafeRawBufferPointer(buffer), datagram: datagram.range)
            if lanes.jobs.isFull { finish(lanes, sink: sink, counters: &local) }
            let job = OpenJob(datagram: datagram, inbound: Unmanaged.passUnretained(inbound), session: nil, step: step)
            _ = lanes.jobs.append(job, octets: datagram.range.count)
        } catch {
            local.drop(error)
        }
    }

    /// With crypto lanes: authenticates the queued datagrams on the lanes, then, in arrival order, moves
    /// the replay windows (only for what authenticated) and delivers.
    func finish(_ lanes: CryptoWorkers<OpenJob>, sink: InnerPacketSink, counters local: inout TunnelCounters) {
        lanes.run(counters: &local)
        for index in 0..<lanes.jobs.count {
            guard let job = lanes.jobs[index], let step = job.step, let inbound = job.inbound else { continue }
            do {
                let opened = try job.opened(by: inbound.takeUnretainedValue(), step: step)
                deliver(opened, of: job.datagram.buffer, sink: sink, counters: &local)
            } catch {
                local.drop(error)
            }
        }
        lanes.jobs.removeAll()
    }
}
