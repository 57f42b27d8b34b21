internal import CTernOS
import Synchronization
public import TernDataChannel
public import TernOS
public import TernProtocol
#if canImport(Glibc)
import Glibc
#endif

/// The Mobile Node's data plane: everything read from its TUN device goes to the Home Agent over one UDP
/// socket connected to the HA's service port; everything from the HA goes to the TUN device.
///
/// Two dedicated threads, batches both ways, no allocation or lock per packet. A keepalive (DESIGN.md:
/// PType 1, Next Header 59, empty) goes out at start — so the HA learns where the MN is — and then
/// whenever nothing else has been sent for the keepalive interval.
public final class MobileNodeDataPlane: @unchecked Sendable {
    private let tun: TunDevice
    private let socket: UDPSocket
    private let outbound: OutboundSecurityAssociation
    private let inbound: InboundSecurityAssociation
    private let scope: SecurityAssociationScope
    private let homeAddresses: [IPAddress]
    private let keepaliveIntervalSeconds: Int
    private let slotLength: Int
    private let events: @Sendable (TunnelEvent) -> Void
    private let stopping = Atomic<Bool>(false)
    private let wakeUp: Notifier
    private let counters = CounterBoard(threads: 2)
    private var threads: [PlatformThread] = []

    /// - Parameter socket: a UDP socket connected to the Home Agent's service port.
    public init(
        tun: TunDevice, socket: UDPSocket, mtu: Int, association: SecurityAssociation, homeAddresses: [IPAddress],
        keepaliveIntervalSeconds: Int, events: @escaping @Sendable (TunnelEvent) -> Void
    ) throws(DataPlaneError) {
        self.tun = tun
        self.socket = socket
        do {
            (outbound, inbound) = try association.makeEndpoints(for: .mobileNode)
            wakeUp = try Notifier()
        } catch let error as SecurityAssociationError {
            throw .securityAssociation(error)
        } catch {
            throw .system(String(describing: error))
        }
        scope = association.scope
        self.homeAddresses = homeAddresses
        self.keepaliveIntervalSeconds = keepaliveIntervalSeconds
        slotLength = PacketPath.slotLength(mtu: mtu)
        self.events = events
    }

    public func start() throws(SystemCallError) {
        threads.append(try PlatformThread(name: "tern-mn-rx") { [self] in receiveLoop() })
        threads.append(try PlatformThread(name: "tern-mn-tx") { [self] in transmitLoop() })
    }

    public func stop() {
        stopping.store(true, ordering: .releasing)
        wakeUp.signal()
        for thread in threads { thread.join() }
        threads = []
    }

    public func statistics() -> TunnelCounters { counters.total() }

    // MARK: UDP → open → TUN

    private func receiveLoop() {
        let poller = Poller([socket.descriptor.rawValue, wakeUp.descriptor.rawValue])
        let batch = DatagramBatch(slotLength: slotLength)
        var local = TunnelCounters()
        var lastPublished = monotonicNanoseconds()
        while !stopping.load(ordering: .acquiring) {
            do {
                try poller.wait(timeoutMilliseconds: HomeAgentDataPlane.pollTimeoutMilliseconds)
                if poller.isReadable(0) {
                    for _ in 0..<HomeAgentDataPlane.batchesPerWake {
                        let count = try batch.receive(from: socket)
                        if count == 0 { break }
                        for slot in 0..<count { receive(slot, of: batch, counters: &local) }
                    }
                }
            } catch {
                // A connected UDP socket reports ICMP errors (e.g. the HA not listening yet) as
                // ECONNREFUSED on the next call: that is the network's doing, not a reason to stop.
                if error.errno == ECONNREFUSED { continue }
                events(.threadFailed(thread: "tern-mn-rx", error: error.description))
                return
            }
            let now = monotonicNanoseconds()
            if now &- lastPublished >= 200_000_000 {
                counters.publish(local, slot: 0)
                lastPublished = now
            }
        }
        counters.publish(local, slot: 0)
    }

    @inline(__always)
    private func receive(_ slot: Int, of batch: DatagramBatch, counters local: inout TunnelCounters) {
        guard !batch.wasTruncated(slot) else { return local.drop(.truncatedDatagram) }
        let buffer = batch.buffer(slot)
        guard let opened = PacketPath.open(buffer, length: batch.receivedLength(slot), inbound: inbound, counters: &local)
        else { return }
        switch opened.kind {
        case .keepalive:
            local.keepalivesReceived &+= 1
        case .mobilityHeader:
            local.drop(.mobilityHeaderNotHandled)
        case .ipv4, .ipv6:
            guard let destination = InnerPacket.destination(UnsafeRawBufferPointer(buffer), opened.payload),
                homeAddresses.contains(destination)
            else { return local.drop(.notForHomeAddress) }
            PacketPath.deliver(opened.payload, of: buffer, to: tun, counters: &local)
        }
    }

    // MARK: TUN → seal → UDP

    private func transmitLoop() {
        let poller = Poller([tun.descriptor.rawValue, wakeUp.descriptor.rawValue])
        let batch = DatagramBatch(slotLength: slotLength)
        let families = UnsafeMutableBufferPointer<Bool>.allocate(capacity: batch.capacity)
        families.initialize(repeating: !socket.isIPv6 ? false : true)
        defer { families.deallocate() }
        var local = TunnelCounters()
        var schedule = KeepaliveSchedule(intervalSeconds: keepaliveIntervalSeconds, now: monotonicNanoseconds())
        sendKeepalive(batch, counters: &local, schedule: &schedule)
        var lastPublished = monotonicNanoseconds()
        while !stopping.load(ordering: .acquiring) {
            do {
                let timeout = schedule.millisecondsUntilDue(
                    at: monotonicNanoseconds(), cap: HomeAgentDataPlane.pollTimeoutMilliseconds)
                try poller.wait(timeoutMilliseconds: timeout)
                if poller.isReadable(0) {
                    for _ in 0..<HomeAgentDataPlane.batchesPerWake {
                        let (count, tunEmpty) = try fill(batch, counters: &local)
                        PacketPath.flush(
                            batch, count: count, families: families, ipv4: socket.isIPv6 ? nil : socket,
                            ipv6: socket.isIPv6 ? socket : nil, counters: &local)
                        if count > 0 { schedule.sent(at: monotonicNanoseconds()) }
                        if tunEmpty { break }
                    }
                }
            } catch {
                events(.threadFailed(thread: "tern-mn-tx", error: error.description))
                return
            }
            let now = monotonicNanoseconds()
            if schedule.isDue(at: now) { sendKeepalive(batch, counters: &local, schedule: &schedule) }
            if now &- lastPublished >= 200_000_000 {
                counters.publish(local, slot: 1)
                lastPublished = now
            }
        }
        counters.publish(local, slot: 1)
    }

    @inline(__always)
    private func fill(_ batch: DatagramBatch, counters local: inout TunnelCounters) throws(SystemCallError) -> (
        count: Int, tunEmpty: Bool
    ) {
        var count = 0
        while count < batch.capacity {
            let slot = batch.buffer(count)
            guard let length = try tun.read(into: PacketPath.readArea(slot)) else { return (count, true) }
            let payload = PacketPath.payloadOffset..<(PacketPath.payloadOffset + length)
            guard let destination = InnerPacket.destination(UnsafeRawBufferPointer(slot), payload) else {
                local.drop(.malformedInnerPacket)
                continue
            }
            guard let datagram = PacketPath.seal(
                payload: payload, in: slot, destination: destination, outbound: outbound, scope: scope,
                counters: &local)
            else { continue }
            batch.prepareToSend(count, range: datagram, to: nil, from: tern_local_address())
            local.packetsSent &+= 1
            local.octetsSent &+= UInt64(length)
            count += 1
        }
        return (count, false)
    }

    private func sendKeepalive(_ batch: DatagramBatch, counters local: inout TunnelCounters, schedule: inout KeepaliveSchedule) {
        let slot = batch.buffer(0)
        do {
            let datagram = try outbound.sealKeepalive(in: slot, at: PacketPath.payloadOffset - outbound.suite.headroom).range
            batch.prepareToSend(0, range: datagram, to: nil, from: tern_local_address())
            var refused = 0
            if batch.send(0..<1, on: socket, refused: &refused) == 1 {
                local.keepalivesSent &+= 1
            } else {
                local.drop(.sendFailed)
            }
        } catch {
            local.drop(.sealFailed)
        }
        schedule.sent(at: monotonicNanoseconds())
    }
}

/// Why a data plane could not be set up.
public enum DataPlaneError: Error, CustomStringConvertible {
    case securityAssociation(SecurityAssociationError)
    case system(String)

    public var description: String {
        switch self {
        case .securityAssociation(let error): error.description
        case .system(let detail): detail
        }
    }
}
