import Synchronization
public import TernOS
public import TernProtocol

/// A bounded FIFO of packets whose eventfd is readable exactly while it is not empty, so a data plane
/// waiting in `poll(2)` wakes for it as for a socket. The queue and the eventfd change under one lock:
/// a push can never be lost between a pop that emptied the queue and its drain.
public final class PacketQueue<Element: Sendable>: @unchecked Sendable {
    private let items: Mutex<[Element]>
    /// Readable while the queue holds something.
    public let notifier: Notifier
    /// Most packets held; a push beyond is dropped (as a full TUN queue or socket buffer drops).
    public let capacity: Int
    private let overflows = Atomic<Int>(0)
    /// Packets refused because the queue was full.
    public var overflowCount: Int { overflows.load(ordering: .relaxed) }

    public init(capacity: Int) throws(SystemCallError) {
        self.capacity = capacity
        items = Mutex([])
        notifier = try Notifier()
    }

    /// Appends `item`; false (and counted) when the queue is full.
    @discardableResult
    public func push(_ item: Element) -> Bool {
        let taken = items.withLock { items in
            guard items.count < capacity else { return false }
            items.append(item)
            if items.count == 1 { notifier.signal() }
            return true
        }
        if !taken { overflows.add(1, ordering: .relaxed) }
        return taken
    }

    /// The oldest item, or nil when empty.
    public func pop() -> Element? {
        items.withLock { items in
            guard !items.isEmpty else { return nil }
            let first = items.removeFirst()
            if items.isEmpty { notifier.drain() }
            return first
        }
    }

    /// Waits up to `milliseconds` for an item and takes it; nil when none came.
    public func pop(waitingMilliseconds milliseconds: Int32) -> Element? {
        if let item = pop() { return item }
        let poller = Poller([notifier.descriptor.rawValue])
        var waited: Int32 = 0
        while waited < milliseconds {
            _ = try? poller.wait(timeoutMilliseconds: 10)
            if let item = pop() { return item }
            waited += 10
        }
        return nil
    }
}

/// An in-memory TUN device for a data plane (``PacketDevice``): what the "kernel" sends into the tunnel
/// is ``inject(_:)``ed and read by the data plane; what the data plane writes comes out of ``written``.
/// No virtio headers, no offloads. One reader and one writer thread, as a data plane uses it.
public final class MemoryPacketDevice: PacketDevice, @unchecked Sendable {
    /// Packets waiting for the data plane to read.
    public let toDataPlane: PacketQueue<[UInt8]>
    /// Packets the data plane wrote.
    public let written: PacketQueue<[UInt8]>

    public static let defaultCapacity = 1024

    public init(capacity: Int = MemoryPacketDevice.defaultCapacity) throws(SystemCallError) {
        toDataPlane = try PacketQueue(capacity: capacity)
        written = try PacketQueue(capacity: capacity)
    }

    /// The "kernel" routes `packet` into the tunnel. False when the queue is full.
    @discardableResult
    public func inject(_ packet: [UInt8]) -> Bool { toDataPlane.push(packet) }

    public var readinessDescriptor: Int32 { toDataPlane.notifier.descriptor.rawValue }
    public var virtioHeaderLength: Int { 0 }
    public func enableOffloads(_ wanted: TunOffloads) -> TunOffloads { [] }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemCallError) -> Int? {
        guard let packet = toDataPlane.pop() else { return nil }
        // A packet longer than the buffer is cut, as a short read(2) on a TUN device cuts it.
        let length = min(packet.count, buffer.count)
        packet.withUnsafeBytes { source in
            UnsafeMutableRawBufferPointer(rebasing: buffer[0..<length]).copyMemory(from: UnsafeRawBufferPointer(rebasing: source[0..<length]))
        }
        return length
    }

    public func write(_ packet: UnsafeRawBufferPointer) throws(SystemCallError) -> Bool {
        written.push(Array(packet))
    }
}

/// A datagram on the in-memory network, as it arrived.
public struct MemoryDatagram: Sendable, Equatable {
    public var octets: [UInt8]
    public var source: SocketAddress
    public var destination: SocketAddress
}

/// Transports joined by address: a datagram sent to an address goes to the transport bound to it now,
/// or is lost (counted). A transport may move to another address (a Mobile Node's new care-of address).
public final class MemoryNetwork: @unchecked Sendable {
    private let bound = Mutex<[SocketAddress: MemoryTransport]>([:])
    private let unroutable = Atomic<Int>(0)
    /// Datagrams sent to an address nothing is bound to.
    public var unroutableCount: Int { unroutable.load(ordering: .relaxed) }

    public init() {}

    /// A transport bound to `address`.
    public func transport(at address: SocketAddress, capacity: Int = 1024) throws(SystemCallError) -> MemoryTransport {
        let transport = try MemoryTransport(network: self, address: address, capacity: capacity)
        bound.withLock { $0[address] = transport }
        return transport
    }

    func rebind(_ transport: MemoryTransport, from old: SocketAddress, to new: SocketAddress) {
        bound.withLock { table in
            if table[old] === transport { table[old] = nil }
            table[new] = transport
        }
    }

    func deliver(_ datagram: MemoryDatagram) -> Bool {
        guard let transport = bound.withLock({ $0[datagram.destination] }) else {
            unroutable.add(1, ordering: .relaxed)
            return false
        }
        return transport.queue.push(datagram)
    }
}

/// One bound "socket" on a ``MemoryNetwork`` (``DatagramTransport``): sends from its address, receives
/// what is sent to it. No segmentation, no coalescing.
public final class MemoryTransport: DatagramTransport, @unchecked Sendable {
    private let network: MemoryNetwork
    private let current: Mutex<SocketAddress>
    let queue: PacketQueue<MemoryDatagram>
    private let sentDatagrams = Atomic<Int>(0)
    /// Datagrams sent.
    public var sentCount: Int { sentDatagrams.load(ordering: .relaxed) }

    init(network: MemoryNetwork, address: SocketAddress, capacity: Int) throws(SystemCallError) {
        self.network = network
        current = Mutex(address)
        queue = try PacketQueue(capacity: capacity)
        isIPv6 = !address.address.isIPv4
    }

    /// Where it sends from and receives at now.
    public var address: SocketAddress { current.withLock { $0 } }

    /// Moves to `address` (a new care-of address): later datagrams leave from it, and only datagrams to
    /// it arrive.
    public func move(to address: SocketAddress) {
        let old = current.withLock { current in
            defer { current = address }
            return current
        }
        network.rebind(self, from: old, to: address)
    }

    public let isIPv6: Bool
    public var readinessDescriptor: Int32 { queue.notifier.descriptor.rawValue }
    public var sendsSegmented: Bool { false }
    public func disableSendSegmentation(because reason: SystemCallError) {}
    public func enableReceiveCoalescing() -> Bool { false }

    public func receive(into batch: DatagramBatch) throws(SystemCallError) -> Int {
        var count = 0
        while count < batch.capacity, let datagram = queue.pop() {
            let local = LocalAddress(address: datagram.destination.address, interfaceIndex: 1)
            datagram.octets.withUnsafeBytes { batch.setReceived(count, octets: $0, from: datagram.source, to: local) }
            count += 1
        }
        return count
    }

    public func send(_ slots: Range<Int>, of batch: DatagramBatch, refused: inout Int) -> Int {
        let source = address
        var sent = 0
        for index in slots {
            let prepared = batch.prepared(index)
            guard let destination = prepared.destination else {
                refused += 1
                continue
            }
            // Lost on the way (nothing bound there, or its queue full) is still sent, as UDP is.
            _ = network.deliver(MemoryDatagram(octets: Array(prepared.octets), source: source, destination: destination))
            sent += 1
        }
        sentDatagrams.add(sent, ordering: .relaxed)
        return sent
    }
}
