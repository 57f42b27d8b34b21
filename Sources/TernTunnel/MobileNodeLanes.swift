import TernDataChannel
import TernOS
import TernRoles

/// The Mobile Node's receiving thread with crypto lanes (`tunnel.crypto-threads` > 1, docs/tunnel.md):
/// the core's ordered checks per datagram, the lanes, then the core's ordered rest.
extension MobileNodeEngine {
    /// With crypto lanes, the first, ordered step for one datagram: the core's checks before any crypto
    /// (source, SPI), the replay check, then a job for the lanes. A full job table is finished first.
    @inline(__always)
    func queue(
        _ datagram: ReceivedDatagram, core: MobileNodeCore, sink: InnerPacketSink<Device>, lanes: CryptoWorkers<OpenJob>,
        actions: inout MobileNodeActions, counters local: inout TunnelCounters
    ) {
        guard let inbound = core.classify(datagram, counters: &local) else { return }
        do {
            let step = try inbound.beginOpen(UnsafeRawBufferPointer(datagram.buffer), datagram: datagram.range)
            if lanes.jobs.isFull { finish(lanes, core: core, sink: sink, actions: &actions, counters: &local) }
            let job = OpenJob(datagram: datagram, inbound: Unmanaged.passUnretained(inbound), session: nil, step: step)
            _ = lanes.jobs.append(job, octets: datagram.range.count)
        } catch {
            local.drop(error)
        }
    }

    /// With crypto lanes: authenticates the queued datagrams on the lanes, then, in arrival order, moves
    /// the replay windows (only for what authenticated) and lets the core decide on each.
    func finish(
        _ lanes: CryptoWorkers<OpenJob>, core: MobileNodeCore, sink: InnerPacketSink<Device>, actions: inout MobileNodeActions,
        counters local: inout TunnelCounters
    ) {
        lanes.run(counters: &local)
        for index in 0..<lanes.jobs.count {
            guard let job = lanes.jobs[index], let step = job.step, let inbound = job.inbound else { continue }
            do {
                let opened = try job.opened(by: inbound.takeUnretainedValue(), step: step)
                if case .writeToTun(let payload) = core.handle(opened, of: job.datagram, counters: &local, actions: &actions) {
                    sink.deliver(payload, of: job.datagram.buffer, counters: &local)
                }
            } catch {
                local.drop(error)
            }
        }
        lanes.jobs.removeAll()
    }
}
