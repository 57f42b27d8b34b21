import Synchronization
import TernOS
import TernRoles
import TernProtocol

/// What the sending side of a data plane (TUN → seal → UDP) owns: its batch, its TUN reader, its
/// counters. One thread at a time holds it, through the data plane's lock, taken once per wake-up,
/// never per packet: the sending thread, or the receiving thread right after it wrote packets into
/// the TUN device — the kernel answers some of them before the write returns (an echo reply, a TCP
/// acknowledgement), and sending those at once saves a thread wake-up on every round trip
/// (docs/tunnel.md: run to completion). The receiving thread only ever *tries* the lock.
class TransmitState<Device: PacketDevice>: @unchecked Sendable {
    let batch: DatagramBatch
    let reader: TunReader<Device>
    /// Per slot: whether its datagram goes out on the IPv6 socket.
    let families: UnsafeMutableBufferPointer<Bool>
    var counters = TunnelCounters()
    var publication: PublishSchedule

    init(tun: Device, slotLength: Int) {
        batch = DatagramBatch(slotLength: slotLength)
        reader = TunReader(tun: tun)
        families = .allocate(capacity: batch.capacity)
        families.initialize(repeating: false)
        publication = PublishSchedule(now: monotonicNanoseconds())
    }

    deinit { families.deallocate() }

    /// Publishes the counters to `board` when the schedule says so (or at once with `force`).
    @inline(__always)
    func publishIfDue(to board: CounterBoard, slot: Int, force: Bool = false) {
        let now = monotonicNanoseconds()
        guard force || publication.isDue(at: now) else { return }
        board.publish(counters, slot: slot)
        publication.published(at: now)
    }
}

/// Where a data-plane thread publishes its counters (every few hundred milliseconds, never per packet).
final class CounterBoard: @unchecked Sendable {
    private let slots: Mutex<[TunnelCounters]>

    init(threads: Int) {
        slots = Mutex([TunnelCounters](repeating: TunnelCounters(), count: threads))
    }

    func publish(_ counters: TunnelCounters, slot: Int) { slots.withLock { $0[slot] = counters } }

    func total() -> TunnelCounters {
        slots.withLock { $0.reduce(TunnelCounters()) { $0.adding($1) } }
    }
}
