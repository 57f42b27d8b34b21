public import TernOS
import TernProtocol
import TernRoles

/// What a data plane offloads to the kernel (docs/tunnel.md: offloads), decided once at start.
public struct DataPlaneOffloads: Sendable, CustomStringConvertible {
    /// What TUNSETOFFLOAD accepted (empty without virtio headers).
    public var tun: TunOffloads
    /// Whether every data-plane socket has UDP_GRO on.
    public var receiveCoalescing: Bool
    /// Whether the sockets pack runs of equal datagrams into UDP_SEGMENT messages.
    public var sendSegmentation: Bool

    /// Turns on what `enabled` asks for on `tun` (opened with virtio headers when offloads are wanted)
    /// and `sockets`; with `enabled` false, switches the sockets' send segmentation off.
    public init<Device: PacketDevice, Transport: DatagramTransport>(
        enabled: Bool, tun device: Device, sockets: [Transport]
    ) {
        guard enabled else {
            for socket in sockets {
                socket.disableSendSegmentation(because: SystemCallError("tunnel.offloads is false", errno: 0))
            }
            tun = []
            receiveCoalescing = false
            sendSegmentation = false
            return
        }
        tun = device.enableOffloads(.all)
        // Every socket or none: the receiving thread sizes one batch for all of them.
        receiveCoalescing = !sockets.isEmpty && sockets.allSatisfy { $0.enableReceiveCoalescing() }
        sendSegmentation = !sockets.isEmpty && sockets.allSatisfy(\.sendsSegmented)
    }

    /// Whether coalesced UDP super-packets may be written to the TUN device (it took USO both ways).
    var coalescesUDP: Bool { tun.isSuperset(of: [.uso4, .uso6]) }

    public var description: String {
        "TUN [\(tun)], UDP GRO \(receiveCoalescing ? "on" : "off"), UDP GSO \(sendSegmentation ? "on" : "off")"
    }
}

/// Where a transmitting thread gets inner packets: one TUN read per packet, or — when the TUN device
/// hands over virtio headers (tunnel.offloads) — one read per super-packet, split (TSO/USO) into
/// MTU-sized packets over as many calls as it has segments (docs/tunnel.md: offloads).
///
/// One per transmitting thread; the staging buffer is allocated once.
final class TunReader<Device: PacketDevice> {
    private let tun: Device
    /// The last super-packet read, with its virtio header; nil without virtio headers.
    private let staging: UnsafeMutableRawBufferPointer?
    /// The segments of the super-packet in `staging` not handed out yet.
    private var pending: PacketSegmenter?

    /// The largest read with virtio headers: the header and an IPv6 super-packet (a 40-octet header and
    /// a 65 535-octet payload).
    static var stagingLength: Int { VirtioNetHeader.length + 40 + 65_535 }

    init(tun: Device) {
        self.tun = tun
        staging = tun.virtioHeaderLength > 0
            ? UnsafeMutableRawBufferPointer.allocate(byteCount: Self.stagingLength, alignment: 64) : nil
    }

    deinit { staging?.deallocate() }

    /// Writes the next inner packet into `area` and returns its length; nil when the TUN device has
    /// nothing more. Super-packets that cannot be split are dropped and counted.
    @inline(__always)
    func next(into area: UnsafeMutableRawBufferPointer, counters: inout TunnelCounters) throws(SystemCallError) -> Int? {
        guard let staging else { return try tun.read(into: area) }
        // Bounded: each turn either returns or reads one more super-packet; a run of unsplittable ones
        // ends after `maximumReadsPerPacket` reads so one call cannot spin.
        for _ in 0..<Self.maximumReadsPerPacket {
            if var segmenter = pending {
                do {
                    if let length = try segmenter.next(into: area) {
                        pending = segmenter
                        return length
                    }
                } catch {
                    counters.drop(.malformedOffloadPacket)
                }
                pending = nil
            }
            guard let length = try tun.read(into: staging) else { return nil }
            let read = UnsafeRawBufferPointer(rebasing: staging[0..<length])
            do {
                let header = try VirtioNetHeader(parsing: read)
                if header.gsoType != .none { counters.superPacketsRead &+= 1 }
                pending = try PacketSegmenter(
                    header: header, packet: UnsafeRawBufferPointer(rebasing: read[VirtioNetHeader.length...]))
            } catch {
                counters.drop(.malformedOffloadPacket)
            }
        }
        return nil
    }

    static var maximumReadsPerPacket: Int { 64 }
}

/// Where a receiving thread puts opened inner packets: straight into the TUN device, or — with virtio
/// headers — through ``ReceiveCoalescer`` (GRO), which writes runs of one flow as one super-packet.
struct InnerPacketSink<Device: PacketDevice> {
    let tun: Device
    private let coalescer: ReceiveCoalescer?

    init(tun: Device, coalesceUDP: Bool) {
        self.tun = tun
        coalescer = tun.virtioHeaderLength > 0 ? ReceiveCoalescer(coalesceUDP: coalesceUDP) : nil
    }

    @inline(__always)
    func deliver(_ payload: Range<Int>, of buffer: UnsafeMutableRawBufferPointer, counters: inout TunnelCounters) {
        guard let coalescer else { return PacketPath.deliver(payload, of: buffer, to: tun, counters: &counters) }
        counters.packetsReceived &+= 1
        counters.octetsReceived &+= UInt64(payload.count)
        let taken = coalescer.offer(buffer, packet: payload) { packet in write(packet, counters: &counters) }
        // Refused only for a packet outside its slot or longer than a super-packet: never for an opened
        // inner packet, but counted if it happens rather than lost silently.
        if !taken { counters.drop(.tunWriteFailed) }
    }

    /// Writes out what the coalescer holds; at the end of every received batch.
    @inline(__always)
    func flush(counters: inout TunnelCounters) {
        coalescer?.flush { packet in write(packet, counters: &counters) }
    }

    /// Writes one emitted packet: its virtio header, then the packet.
    @inline(__always)
    private func write(_ packet: UnsafeRawBufferPointer, counters: inout TunnelCounters) {
        guard (try? tun.write(packet)) == true else { return counters.drop(.tunWriteFailed) }
        // Octet 1 of the virtio header is the GSO type: not 0 for a coalesced super-packet.
        if packet.count > 1, packet[1] != 0 { counters.superPacketsWritten &+= 1 }
    }
}
