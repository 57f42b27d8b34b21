import TernDataChannel
import TernOS
import TernRoles
import TernProtocol

/// The jobs of one batch for ``CryptoLanes``: written by the owning thread (in slot order) before
/// ``CryptoLanes/perform(count:octets:)``, each read and completed by exactly one lane during it, read
/// again by the owner after it. Allocated once per data-plane thread; nothing per packet. The SAs are
/// held unretained: the owner's session table or association set keeps them alive for the batch, and
/// no reference count is shared between the lanes' cores.
final class LaneJobs<Job>: @unchecked Sendable {
    let capacity: Int
    private let jobs: UnsafeMutableBufferPointer<Job?>
    private(set) var count = 0
    /// Octets of the datagrams queued, for the decision to split.
    private(set) var octets = 0

    init(capacity: Int) {
        self.capacity = max(capacity, 1)
        jobs = .allocate(capacity: self.capacity)
        jobs.initialize(repeating: nil)
    }

    deinit {
        jobs.deinitialize()
        jobs.deallocate()
    }

    var isFull: Bool { count >= capacity }

    /// Queues `job`; false (and nothing queued) when full.
    @inline(__always)
    func append(_ job: Job, octets length: Int) -> Bool {
        guard count < capacity else { return false }
        jobs[count] = job
        count += 1
        octets += length
        return true
    }

    @inline(__always)
    subscript(index: Int) -> Job? {
        get { jobs[index] }
        set { jobs[index] = newValue }
    }

    func removeAll() {
        count = 0
        octets = 0
    }
}

/// A datagram framed by its SA's owner and waiting to be protected by a lane.
struct SealJob {
    var slot: Int
    var buffer: UnsafeMutableRawBufferPointer
    var outbound: Unmanaged<OutboundSecurityAssociation>
    var pending: PendingSeal
    /// Octets of the inner packet, to take back off the counters if protection fails.
    var innerLength: Int
    var failed = false
}

/// A received datagram waiting to be authenticated by a lane. `step` nil: the owner handles the whole
/// datagram serially after the lanes (the HA's PType 0, found by a binding an earlier datagram of the
/// batch may move).
struct OpenJob {
    var datagram: ReceivedDatagram
    var inbound: Unmanaged<InboundSecurityAssociation>? = nil
    var session: Unmanaged<MobileNodeSession>? = nil
    var step: OpenStep? = nil
    var failure: DataChannelDropReason? = nil

    /// After the lanes, in arrival order: what the datagram carried — the replay accept and the trailer
    /// for one that authenticated (``InboundSecurityAssociation/finishOpen(_:in:)``). Throws why it is
    /// dropped: its lane's failure, or the accept's.
    @inline(__always)
    func opened(by inbound: InboundSecurityAssociation, step: OpenStep) throws(DataChannelDropReason) -> OpenedDatagram {
        if let failure { throw failure }
        switch step {
        case .opened(let plaintext):
            return plaintext
        case .authenticate(let pending):
            return try inbound.finishOpen(pending, in: UnsafeRawBufferPointer(datagram.buffer))
        }
    }
}

extension LaneJobs where Job == SealJob {
    /// A lane's share: protects jobs `range` with `lane`'s contexts.
    @inline(__always)
    func protect(lane: Int, _ range: Range<Int>) {
        for index in range {
            guard let job = self[index] else { continue }
            let failed = job.outbound._withUnsafeGuaranteedRef { outbound in
                do {
                    try outbound.protect(job.pending, in: job.buffer, lane: lane)
                    return false
                } catch {
                    return true
                }
            }
            if failed { self[index]?.failed = true }
        }
    }

    /// After the lanes: counts the datagrams that could not be protected (never sent) and sends the
    /// rest of slots `0 ..< count`, in order, skipping them.
    func flush<Transport: DatagramTransport>(
        _ batch: DatagramBatch, count: Int, families: UnsafeMutableBufferPointer<Bool>, ipv4: Transport?,
        ipv6: Transport?, counters: inout TunnelCounters
    ) {
        var start = 0
        for index in 0..<self.count {
            guard let job = self[index], job.failed else { continue }
            counters.drop(.sealFailed)
            counters.packetsSent &-= 1
            counters.octetsSent &-= UInt64(job.innerLength)
            PacketPath.flush(batch, slots: start..<job.slot, families: families, ipv4: ipv4, ipv6: ipv6, counters: &counters)
            start = job.slot + 1
        }
        PacketPath.flush(batch, slots: start..<count, families: families, ipv4: ipv4, ipv6: ipv6, counters: &counters)
        removeAll()
    }
}

extension LaneJobs where Job == OpenJob {
    /// A lane's share: authenticates and decrypts jobs `range` with `lane`'s contexts.
    @inline(__always)
    func authenticate(lane: Int, _ range: Range<Int>) {
        for index in range {
            guard let job = self[index], case .authenticate(let pending) = job.step, let inbound = job.inbound else {
                continue
            }
            let failure = inbound._withUnsafeGuaranteedRef { inbound -> DataChannelDropReason? in
                do throws(DataChannelDropReason) {
                    try inbound.authenticate(pending, in: job.datagram.buffer, lane: lane)
                    return nil
                } catch {
                    return error
                }
            }
            if let failure { self[index]?.failure = failure }
        }
    }
}

/// A data-plane thread's crypto lanes and the job table they work on.
struct CryptoWorkers<Job> {
    let lanes: CryptoLanes
    let jobs: LaneJobs<Job>

    /// Runs the queued jobs over the lanes; counts a split batch.
    @inline(__always)
    func run(counters: inout TunnelCounters) {
        if lanes.perform(count: jobs.count, octets: jobs.octets) { counters.cryptoBatchesSplit &+= 1 }
    }
}

extension CryptoWorkers where Job == SealJob {
    /// The sending thread's lanes, named `name-c1`…, over a table of `capacity` jobs (one per slot).
    static func sending(lanes: Int, name: String, capacity: Int) throws(SystemCallError) -> CryptoWorkers<SealJob> {
        let jobs = LaneJobs<SealJob>(capacity: capacity)
        return CryptoWorkers(lanes: try CryptoLanes(lanes: lanes, name: name) { jobs.protect(lane: $0, $1) }, jobs: jobs)
    }
}

extension CryptoWorkers where Job == OpenJob {
    /// Datagrams the receiving thread queues before it runs the lanes (a coalesced batch holds more;
    /// it is then done in parts of this size, in order).
    static var receiveCapacity: Int { 256 }

    /// The receiving thread's lanes, named `name-c1`….
    static func receiving(lanes: Int, name: String) throws(SystemCallError) -> CryptoWorkers<OpenJob> {
        let jobs = LaneJobs<OpenJob>(capacity: receiveCapacity)
        return CryptoWorkers(
            lanes: try CryptoLanes(lanes: lanes, name: name) { jobs.authenticate(lane: $0, $1) }, jobs: jobs)
    }
}

/// A data plane's crypto lanes, decided in one place for both roles: none when `tunnel.crypto-threads`
/// is 1; else lanes for the sending thread (`name-tx-c1`…) and the receiving thread (`name-rx-c1`…).
struct DataPlaneLanes {
    private(set) var sending: CryptoWorkers<SealJob>?
    private(set) var receiving: CryptoWorkers<OpenJob>?

    init() {}

    /// Starts the worker threads for `threads` lanes per data-plane thread (the thread itself included);
    /// on an error, none is left running.
    init(threads: Int, name: String) throws(SystemCallError) {
        guard threads > 1 else { return }
        receiving = try .receiving(lanes: threads, name: "\(name)-rx")
        do {
            sending = try .sending(lanes: threads, name: "\(name)-tx", capacity: DatagramBatch.defaultCapacity)
        } catch {
            stop()
            throw error
        }
    }

    /// Stops and joins the workers. Idempotent.
    func stop() {
        sending?.lanes.stop()
        receiving?.lanes.stop()
    }
}
