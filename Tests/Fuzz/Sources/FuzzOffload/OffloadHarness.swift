// The offload paths (TernProtocol/Offload): the segmenter, which splits what the TUN device hands over
// with a virtio_net_hdr (the local stack's super-packets; the header may be anything), and the receive
// coalescer, which merges inner packets that came out of strangers' datagrams.
//
// Input: a mode octet. Mode even: a 10-octet virtio_net_hdr and a packet: segmented into a buffer of a
// size the input picks; every segment fits and no more come than announced. Mode odd: a run of packets
// (16-bit length, headroom octet), offered to a coalescer and flushed; whatever it emits carries a
// virtio_net_hdr the segmenter accepts with the octets after it.
import FuzzSupport
import TernProtocol

nonisolated(unsafe) private let destination = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536 + 64, alignment: 16)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOffload(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzedInput(data, size)
    let mode = input.byte()
    if mode & 1 == 0 {
        segment(&input, mode: mode)
    } else {
        coalesce(&input, mode: mode)
    }
    return 0
}

private func segment(_ input: inout FuzzedInput, mode: UInt8) {
    guard let header = try? VirtioNetHeader(parsing: input.bytes(VirtioNetHeader.length)) else { return }
    let packet = input.rest()
    let limit = mode & 2 == 0 ? destination.count : 576 + Int(mode) * 4
    checkSegments(header, packet, destinationLength: limit)
}

/// Segments `packet` as `header` asks; returns the number of segments, or nil when refused.
@discardableResult
private func checkSegments(_ header: VirtioNetHeader, _ packet: UnsafeRawBufferPointer, destinationLength: Int) -> Int? {
    guard var segmenter = try? PacketSegmenter(header: header, packet: packet) else { return nil }
    fuzzCheck(segmenter.segmentCount <= PacketSegmenter.maximumSegmentCount, "more segments than the limit")
    let output = UnsafeMutableRawBufferPointer(rebasing: destination[0..<destinationLength])
    var count = 0
    while true {
        let length: Int?
        do {
            length = try segmenter.next(into: output)
        } catch {
            // Too small a buffer: nothing consumed, and the whole buffer takes it.
            guard case .destinationTooSmall = error else {
                fuzzCheck(false, "segmenting failed after init accepted: \(error)")
                return nil
            }
            return count
        }
        guard let length else { break }
        fuzzCheck(length <= output.count, "a segment of \(length) octets in a \(output.count)-octet buffer")
        // Without GSO the packet goes out whole (an empty one too: the local stack sent it).
        if header.gsoType == .none { fuzzCheck(length == packet.count, "a packet without GSO changed length") }
        count += 1
        fuzzCheck(count <= segmenter.segmentCount, "more segments written than announced")
    }
    fuzzCheck(count == segmenter.segmentCount, "\(count) segments written, \(segmenter.segmentCount) announced")
    return count
}

private func coalesce(_ input: inout FuzzedInput, mode: UInt8) {
    let coalescer = ReceiveCoalescer(maximumFlows: 1 + Int(mode >> 1 & 3), bufferLength: 8_192, coalesceUDP: mode & 8 != 0)
    var slot = [UInt8](repeating: 0, count: 4_096)
    let emit: (UnsafeRawBufferPointer) -> Void = { emitted in
        guard let header = try? VirtioNetHeader(parsing: emitted) else {
            fuzzCheck(false, "the coalescer emitted a packet without a valid virtio_net_hdr")
            return
        }
        let packet = UnsafeRawBufferPointer(rebasing: emitted[VirtioNetHeader.length...])
        if header.gsoType != .none {
            fuzzCheck(
                checkSegments(header, packet, destinationLength: destination.count) != nil,
                "the segmenter refuses a super-packet the coalescer built")
        }
    }
    while !input.isEmpty {
        let headroom = Int(input.byte() % 32)
        let packet = input.bytes(Int(input.uint16()) % (slot.count - headroom))
        slot.withUnsafeMutableBytes { slot in
            let range = headroom..<(headroom + packet.count)
            UnsafeMutableRawBufferPointer(rebasing: slot[range]).copyMemory(from: packet)
            coalescer.offer(slot, packet: range, emit: emit)
        }
        if input.byte() & 0x0F == 0 { coalescer.flush(emit: emit) }
    }
    coalescer.flush(emit: emit)
    fuzzCheck(coalescer.heldFlowCount == 0, "flows held after a flush")
}
