import TernDataChannel
import TernProtocol
import TernTestSupport

// The pieces every simulated node shares: virtual time, addresses, datagrams with their provenance, the
// event queue, and sealing/opening on plain arrays (the simulation may allocate; the data planes do not).

/// Nanoseconds of virtual time.
typealias VirtualTime = UInt64
let millisecond: VirtualTime = 1_000_000
let second: VirtualTime = 1_000_000_000

/// An outer UDP address.
struct SimAddress: Hashable, CustomStringConvertible {
    var ip: IPAddress
    var port: UInt16
    var description: String { ip.isIPv4 ? "\(ip):\(port)" : "[\(ip)]:\(port)" }
}

/// Who put a datagram on the wire: the oracle's knowledge, never seen by the nodes.
enum Provenance: Hashable {
    /// Sealed (or sent) by the node named, the first time.
    case genuine
    /// A copy the network made (duplication).
    case networkCopy
    /// Injected by the attacker (replayed, reflected or forged).
    case attacker(String)
}

struct Datagram {
    var bytes: [UInt8]
    var from: SimAddress
    var to: SimAddress
    var provenance: Provenance
}

/// Events in virtual time; equal times run in the order they were scheduled (determinism). A binary
/// heap of plain entries (no tuples, no generics: the debug build CI runs is several times faster so).
struct EventQueue {
    private struct Entry {
        var time: VirtualTime
        var order: UInt64
        var event: Simulation.Event

        @inline(__always)
        func precedes(_ other: Entry) -> Bool { time < other.time || (time == other.time && order < other.order) }
    }

    private var heap: [Entry] = []
    private var order: UInt64 = 0
    var count: Int { heap.count }

    mutating func schedule(_ event: Simulation.Event, at time: VirtualTime) {
        order &+= 1
        heap.append(Entry(time: time, order: order, event: event))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].precedes(heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func next() -> (time: VirtualTime, event: Simulation.Event)? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var first = parent
            if left < heap.count, heap[left].precedes(heap[first]) { first = left }
            if right < heap.count, heap[right].precedes(heap[first]) { first = right }
            if first == parent { break }
            heap.swapAt(parent, first)
            parent = first
        }
        return (top.time, top.event)
    }
}

/// A minimal IPv4 packet: header with the addresses, then an 8-octet tag naming the packet (the oracle
/// follows it end to end).
func innerPacket(from source: IPv4Address, to destination: IPv4Address, tag: UInt64) -> [UInt8] {
    var packet = [UInt8](repeating: 0, count: 28)
    packet[0] = 0x45
    packet[3] = 28
    packet[8] = 64
    packet[9] = 17
    for index in 0..<4 {
        packet[12 + index] = UInt8(truncatingIfNeeded: source.rawValue >> (24 - 8 * index))
        packet[16 + index] = UInt8(truncatingIfNeeded: destination.rawValue >> (24 - 8 * index))
    }
    for index in 0..<8 { packet[20 + index] = UInt8(truncatingIfNeeded: tag >> (56 - 8 * index)) }
    return packet
}

/// The tag of a packet built by ``innerPacket(from:to:tag:)``; nil for anything else.
func innerTag(_ packet: [UInt8]) -> UInt64? {
    guard packet.count == 28 else { return nil }
    return packet[20..<28].reduce(0) { $0 << 8 | UInt64($1) }
}

func innerAddresses(_ packet: [UInt8]) -> (source: IPAddress, destination: IPAddress)? {
    packet.withUnsafeBytes { buffer in
        guard let source = InnerPacket.source(buffer, 0..<buffer.count),
            let destination = InnerPacket.destination(buffer, 0..<buffer.count)
        else { return nil }
        return (source, destination)
    }
}

/// Seals `payload` with the real data channel; returns the datagram and its sequence number.
func seal(
    _ payload: [UInt8], type: PacketType, nextHeader: UInt8, with outbound: OutboundSecurityAssociation
) -> (bytes: [UInt8], sequenceNumber: UInt32)? {
    let headroom = outbound.suite.headroom
    var buffer = [UInt8](repeating: 0, count: headroom + payload.count + DataChannel.maximumTailroom)
    buffer.replaceSubrange(headroom..<(headroom + payload.count), with: payload)
    return buffer.withUnsafeMutableBytes { raw -> (bytes: [UInt8], sequenceNumber: UInt32)? in
        guard
            let sealed = try? outbound.seal(
                type, nextHeader: nextHeader, in: raw, payload: headroom..<(headroom + payload.count))
        else { return nil }
        return (Array(raw[sealed.range]), sealed.sequenceNumber)
    }
}

/// Opens a datagram with the real data channel; the payload is copied out.
func open(_ bytes: [UInt8], with inbound: InboundSecurityAssociation) -> (OpenedDatagram, [UInt8])? {
    var copy = bytes
    return copy.withUnsafeMutableBytes { raw -> (OpenedDatagram, [UInt8])? in
        guard let opened = try? inbound.open(raw, datagram: 0..<raw.count) else { return nil }
        return (opened, Array(raw[opened.payload]))
    }
}

extension SeededRandom {
    /// True with probability `percent` / 100.
    mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &self) < percent }
    mutating func between(_ low: VirtualTime, _ high: VirtualTime) -> VirtualTime {
        VirtualTime.random(in: low...high, using: &self)
    }
}
