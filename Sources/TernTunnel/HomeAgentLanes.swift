import TernDataChannel
import TernProtocol
import TernRoles

/// The Home Agent's receiving thread with crypto lanes (`tunnel.crypto-threads` > 1, docs/tunnel.md):
/// the core's ordered first step per datagram, the lanes, then the core's ordered rest.
extension HomeAgentEngine {
    /// With crypto lanes, the first, ordered step for one datagram: the core's header and SPI check,
    /// the replay check, then a job for the lanes. PType 0 waits, whole, for
    /// ``finish(_:core:sink:actions:counters:)``: the binding that finds it may move with an earlier
    /// datagram of the batch.
    @inline(__always)
    func queue(
        _ datagram: ReceivedDatagram, lanes: CryptoWorkers<OpenJob>, core: inout HomeAgentCore, sink: InnerPacketSink<Device>,
        actions: inout HomeAgentActions, counters local: inout TunnelCounters
    ) {
        var job = OpenJob(datagram: datagram)
        switch core.classify(datagram, counters: &local) {
        case .dropped:
            return
        case .plaintext:
            break
        case .protected(let session):
            do {
                job.step = try session.inbound.beginOpen(UnsafeRawBufferPointer(datagram.buffer), datagram: datagram.range)
            } catch {
                return local.drop(error)
            }
            job.inbound = Unmanaged.passUnretained(session.inbound)
            job.session = Unmanaged.passUnretained(session)
        }
        if lanes.jobs.isFull { finish(lanes, core: &core, sink: sink, actions: &actions, counters: &local) }
        _ = lanes.jobs.append(job, octets: datagram.range.count)
    }

    /// With crypto lanes: authenticates the queued datagrams on the lanes, then, in arrival order, lets
    /// the core move replay windows and bindings (only for what authenticated) and delivers.
    func finish(
        _ lanes: CryptoWorkers<OpenJob>, core: inout HomeAgentCore, sink: InnerPacketSink<Device>, actions: inout HomeAgentActions,
        counters local: inout TunnelCounters
    ) {
        lanes.run(counters: &local)
        for index in 0..<lanes.jobs.count {
            guard let job = lanes.jobs[index] else { continue }
            let verdict: ReceiveVerdict
            if let step = job.step, let session = job.session?.takeUnretainedValue() {
                do {
                    let opened = try job.opened(by: session.inbound, step: step)
                    verdict = core.handle(opened, of: job.datagram, session: session, counters: &local, actions: &actions)
                } catch {
                    local.drop(error)
                    continue
                }
            } else {
                verdict = core.receive(job.datagram, counters: &local, actions: &actions)
            }
            if case .writeToTun(let payload) = verdict { sink.deliver(payload, of: job.datagram.buffer, counters: &local) }
        }
        lanes.jobs.removeAll()
    }
}
