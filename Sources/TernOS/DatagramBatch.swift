import CTernOS
public import TernProtocol
#if canImport(Glibc)
import Glibc
#endif

/// Fixed vectors for `recvmmsg` / `sendmmsg`: one slot per datagram, each with its packet buffer, iovec,
/// peer address and control buffer, all allocated once (swift-nio's DatagramVectorReadManager,
/// wireguard-go's batches). Nothing is allocated per datagram.
///
/// Offloads: on a socket that segments (``UDPSocket/sendsSegmented``), `send` hands the kernel each run
/// of consecutive slots with the same peer and source and equal lengths as one UDP_SEGMENT message; on
/// a socket with UDP_GRO on, a slot may receive a whole run (``segmentSize(_:)``). Both stay in slots:
/// callers prepare and count datagrams, never messages.
///
/// Not thread-safe: one thread owns a batch.
public final class DatagramBatch {
    /// Slots in the batch.
    public let capacity: Int
    /// Octets of packet buffer per slot.
    public let slotLength: Int

    private let packets: UnsafeMutableRawPointer
    /// One message per slot, pointing at that slot's iovec (the vectors are contiguous by slot, so a run
    /// of slots is a run of iovecs).
    private let messages: UnsafeMutablePointer<tern_mmsghdr>
    private let vectors: UnsafeMutablePointer<iovec>
    private let names: UnsafeMutableRawPointer
    private let controls: UnsafeMutableRawPointer
    private let controlLength: Int
    /// Per slot: the local address a datagram arrived on, or the source to send from.
    private let locals: UnsafeMutablePointer<tern_local_address>
    /// Per slot, after a receive: the UDP_GRO segment size, 0 for a single datagram.
    private let segmentSizes: UnsafeMutablePointer<Int32>
    /// What `send` hands the kernel on a segmenting socket: one message per run of slots. Kept apart
    /// from `messages` so that a run the kernel refuses segmented can be resent slot by slot as prepared.
    private let runs: UnsafeMutablePointer<tern_mmsghdr>
    /// Run `m` covers slots `runStarts[m] ..< runStarts[m + 1]`.
    private let runStarts: UnsafeMutablePointer<Int>

    /// Slots per batch by default: enough to amortise each system call without long latency spikes.
    public static let defaultCapacity = 64

    /// Most datagrams in one UDP_SEGMENT message. The kernel's UDP_MAX_SEGMENTS was 64 when the option
    /// came (Linux 4.18) and is 128 in newer kernels; a larger run is refused with EINVAL.
    public static let maximumSegments = 64
    /// Most payload octets in one UDP_SEGMENT message: the kernel builds it as one IP packet before
    /// cutting it, so it must fit IPv4's 16-bit total length with the IPv4 (20) and UDP (8) headers, or
    /// the send fails with EMSGSIZE. IPv6's payload length leaves out its own header, so it could carry 20
    /// octets more; one limit for both keeps the grouping loop to a few comparisons.
    public static let maximumSegmentedLength = 65_535 - 20 - 8
    /// Octets a receive slot needs on a socket with UDP_GRO: the kernel coalesces at most one IP packet's
    /// worth, so a run never exceeds 64 KiB. Smaller slots get coalesced runs truncated (``wasTruncated(_:)``).
    public static let maximumCoalescedLength = 65_535

    public init(capacity: Int = defaultCapacity, slotLength: Int) {
        precondition(capacity > 0 && slotLength > 0)
        self.capacity = capacity
        self.slotLength = slotLength
        controlLength = tern_control_length()
        packets = .allocate(byteCount: capacity * slotLength, alignment: 64)
        messages = .allocate(capacity: capacity)
        vectors = .allocate(capacity: capacity)
        names = .allocate(byteCount: capacity * SocketAddress.storageLength, alignment: 8)
        controls = .allocate(byteCount: capacity * controlLength, alignment: 8)
        locals = .allocate(capacity: capacity)
        segmentSizes = .allocate(capacity: capacity)
        runs = .allocate(capacity: capacity)
        runStarts = .allocate(capacity: capacity + 1)
        messages.initialize(repeating: tern_mmsghdr(), count: capacity)
        vectors.initialize(repeating: iovec(), count: capacity)
        locals.initialize(repeating: tern_local_address(), count: capacity)
        segmentSizes.initialize(repeating: 0, count: capacity)
        runs.initialize(repeating: tern_mmsghdr(), count: capacity)
        runStarts.initialize(repeating: 0, count: capacity + 1)
        packets.initializeMemory(as: UInt8.self, repeating: 0, count: capacity * slotLength)
    }

    deinit {
        packets.deallocate()
        messages.deallocate()
        vectors.deallocate()
        names.deallocate()
        controls.deallocate()
        locals.deallocate()
        segmentSizes.deallocate()
        runs.deallocate()
        runStarts.deallocate()
    }

    /// The whole packet buffer of slot `index`.
    @inline(__always)
    public func buffer(_ index: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: packets + index * slotLength, count: slotLength)
    }

    // MARK: Receiving

    /// Receives up to `capacity` messages, each at offset 0 of its slot: one datagram each, or with
    /// UDP_GRO on a run of them (``segmentSize(_:)``). Returns how many slots were filled (0 when none was
    /// waiting).
    public func receive(from socket: UDPSocket) throws(SystemCallError) -> Int {
        for index in 0..<capacity {
            vectors[index] = iovec(iov_base: packets + index * slotLength, iov_len: slotLength)
            messages[index].msg_hdr = msghdr(
                msg_name: names + index * SocketAddress.storageLength,
                msg_namelen: socklen_t(SocketAddress.storageLength), msg_iov: vectors + index, msg_iovlen: 1,
                msg_control: controls + index * controlLength, msg_controllen: controlLength, msg_flags: 0)
            messages[index].msg_len = 0
        }
        let count = try SystemCall.nonBlocking("recvmmsg") {
            tern_recvmmsg(socket.descriptor.rawValue, messages, UInt32(capacity), Int32(MSG_DONTWAIT))
        }
        guard let count else { return 0 }
        for index in 0..<Int(count) {
            var segmentSize: Int32 = 0
            tern_read_control(&messages[index].msg_hdr, locals + index, &segmentSize)
            // A run of one (the kernel may mark a lone datagram too) is reported as a plain datagram.
            segmentSizes[index] = segmentSize > 0 && messages[index].msg_len > UInt32(segmentSize) ? segmentSize : 0
        }
        return Int(count)
    }

    /// For a slot that received a coalesced run (UDP_GRO): the length of each datagram in it, the last
    /// of which may be shorter; walk the slot's ``receivedLength(_:)`` octets in steps of this. 0 when the
    /// slot holds one datagram.
    @inline(__always)
    public func segmentSize(_ index: Int) -> Int { Int(segmentSizes[index]) }

    /// Octets received into slot `index`.
    @inline(__always)
    public func receivedLength(_ index: Int) -> Int { Int(messages[index].msg_len) }

    /// True when the datagram in slot `index` was longer than the slot and was cut (MSG_TRUNC).
    @inline(__always)
    public func wasTruncated(_ index: Int) -> Bool { messages[index].msg_hdr.msg_flags & Int32(MSG_TRUNC) != 0 }

    /// Who sent the datagram in slot `index`.
    @inline(__always)
    public func source(_ index: Int) -> SocketAddress? {
        SocketAddress(reading: names + index * SocketAddress.storageLength, length: Int(messages[index].msg_hdr.msg_namelen))
    }

    /// The local address the datagram in slot `index` was sent to (no address without packet info).
    @inline(__always)
    public func localAddress(_ index: Int) -> LocalAddress { LocalAddress(locals[index]) }

    // MARK: Transports that are not a socket

    /// For a ``DatagramTransport`` that is not a socket (an in-memory network): stores `octets` in slot
    /// `index` as a receive would, from `source` to `local`; a datagram longer than the slot is cut and
    /// marked truncated, as MSG_TRUNC.
    public func setReceived(
        _ index: Int, octets: UnsafeRawBufferPointer, from source: SocketAddress, to local: LocalAddress
    ) {
        let length = min(octets.count, slotLength)
        if length > 0, let base = octets.baseAddress { (packets + index * slotLength).copyMemory(from: base, byteCount: length) }
        let name = names + index * SocketAddress.storageLength
        let nameLength = source.write(to: name)
        messages[index].msg_hdr = msghdr(
            msg_name: name, msg_namelen: socklen_t(nameLength), msg_iov: vectors + index, msg_iovlen: 1,
            msg_control: nil, msg_controllen: 0, msg_flags: octets.count > slotLength ? Int32(MSG_TRUNC) : 0)
        messages[index].msg_len = UInt32(length)
        locals[index] = local.packetInfo
        segmentSizes[index] = 0
    }

    /// For a ``DatagramTransport`` that is not a socket: what slot `index` was prepared to send (by
    /// ``prepareToSend(_:range:to:from:)``): its octets, destination and source.
    public func prepared(_ index: Int) -> (octets: UnsafeRawBufferPointer, destination: SocketAddress?, source: LocalAddress) {
        let octets = UnsafeRawBufferPointer(start: vectors[index].iov_base, count: vectors[index].iov_len)
        let destination = SocketAddress(
            reading: names + index * SocketAddress.storageLength, length: Int(messages[index].msg_hdr.msg_namelen))
        return (octets, destination, LocalAddress(locals[index]))
    }

    // MARK: Sending

    /// Prepares slot `index` to send the octets at `range` of its buffer to `destination` (nil on a
    /// connected socket), from `source` (``LocalAddress/unspecified``: let routing choose).
    @inline(__always)
    public func prepareToSend(
        _ index: Int, range: Range<Int>, to destination: SocketAddress?, from source: LocalAddress
    ) {
        vectors[index] = iovec(iov_base: packets + index * slotLength + range.lowerBound, iov_len: range.count)
        let name = names + index * SocketAddress.storageLength
        let nameLength = destination.map { $0.write(to: name) } ?? 0
        messages[index].msg_hdr = msghdr(
            msg_name: nameLength > 0 ? name : nil, msg_namelen: socklen_t(nameLength), msg_iov: vectors + index,
            msg_iovlen: 1, msg_control: nil, msg_controllen: 0, msg_flags: 0)
        locals[index] = source.packetInfo
        tern_write_pktinfo(&messages[index].msg_hdr, controls + index * controlLength, locals + index)
        messages[index].msg_len = 0
    }

    /// Prepares slot `index` as a copy of slot `other`'s destination and source (the same peer), for
    /// the octets at `range` of its own buffer.
    @inline(__always)
    public func prepareToSend(_ index: Int, range: Range<Int>, likeSlot other: Int) {
        vectors[index] = iovec(iov_base: packets + index * slotLength + range.lowerBound, iov_len: range.count)
        let name = names + index * SocketAddress.storageLength
        let nameLength = messages[other].msg_hdr.msg_namelen
        if nameLength > 0 {
            name.copyMemory(from: names + other * SocketAddress.storageLength, byteCount: Int(nameLength))
        }
        messages[index].msg_hdr = msghdr(
            msg_name: nameLength > 0 ? name : nil, msg_namelen: nameLength, msg_iov: vectors + index,
            msg_iovlen: 1, msg_control: nil, msg_controllen: 0, msg_flags: 0)
        locals[index] = locals[other]
        tern_write_pktinfo(&messages[index].msg_hdr, controls + index * controlLength, locals + index)
        messages[index].msg_len = 0
    }

    /// Sends the datagrams prepared in `slots`, in order, with as few `sendmmsg` calls as the kernel
    /// allows. Returns how many datagrams were handed to the kernel. The rest were dropped: the socket
    /// buffer stayed full (a datagram socket that would block drops, as a router would), or the kernel
    /// refused one (no route, too big), which is skipped and counted in `refused` so that one bad
    /// destination does not stall the batch.
    ///
    /// On a socket that segments, each run of slots with the same destination and source, where every
    /// datagram but the last has the same length and the last is no longer (at most ``maximumSegments``
    /// and ``maximumSegmentedLength`` octets), goes out as one UDP_SEGMENT message. When the kernel refuses
    /// one for good (EIO, EINVAL, ENOPROTOOPT), segmentation is turned off on the socket and the rest of
    /// the batch is sent datagram by datagram; a run too long for the path (EMSGSIZE) is resent datagram
    /// by datagram, which the kernel may fragment as it would have without segmentation.
    @discardableResult
    public func send(_ slots: Range<Int>, on socket: UDPSocket, refused: inout Int) -> Int {
        guard !slots.isEmpty else { return 0 }
        guard socket.sendsSegmented else { return sendEach(slots, on: socket, refused: &refused) }
        let runCount = groupRuns(slots)
        var next = 0
        var sent = 0
        while next < runCount {
            let result: Int32?
            do {
                result = try SystemCall.nonBlocking("sendmmsg UDP_SEGMENT") {
                    tern_sendmmsg(socket.descriptor.rawValue, runs + next, UInt32(runCount - next), 0)
                }
            } catch {
                let run = runStarts[next]..<runStarts[next + 1]
                next += 1
                guard run.count > 1 else {
                    refused += 1
                    continue
                }
                switch error.errno {
                case EIO, EINVAL, ENOPROTOOPT:
                    socket.disableSendSegmentation(because: error)
                    return sent + sendEach(run.lowerBound..<slots.upperBound, on: socket, refused: &refused)
                case EMSGSIZE:
                    sent += sendEach(run, on: socket, refused: &refused)
                default:
                    refused += run.count
                }
                continue
            }
            guard let result, result > 0 else { break }
            sent += runStarts[next + Int(result)] - runStarts[next]
            next += Int(result)
        }
        return sent
    }

    /// Sends each slot's own message: a socket that does not segment, or the fallback.
    private func sendEach(_ slots: Range<Int>, on socket: UDPSocket, refused: inout Int) -> Int {
        var start = slots.lowerBound
        var sent = 0
        var attempts = 0
        while start < slots.upperBound && attempts < slots.count + 4 {
            attempts += 1
            let result: Int32?
            do {
                result = try SystemCall.nonBlocking("sendmmsg") {
                    tern_sendmmsg(socket.descriptor.rawValue, messages + start, UInt32(slots.upperBound - start), 0)
                }
            } catch {
                refused += 1
                start += 1
                continue
            }
            guard let result, result > 0 else { break }
            start += Int(result)
            sent += Int(result)
        }
        return sent
    }

    /// Fills `runs` with one message per run of `slots` (see ``send(_:on:refused:)``) and `runStarts` with
    /// where each begins. Returns the number of runs. Per slot: a length check and two short compares.
    @inline(__always)
    private func groupRuns(_ slots: Range<Int>) -> Int {
        var count = 0
        var start = slots.lowerBound
        while start < slots.upperBound {
            let segmentSize = vectors[start].iov_len
            var end = start + 1
            if segmentSize > 0 && segmentSize <= Int(UInt16.max) {
                var total = segmentSize
                while end < slots.upperBound && end - start < Self.maximumSegments {
                    let length = vectors[end].iov_len
                    guard length > 0, length <= segmentSize, total + length <= Self.maximumSegmentedLength,
                        sameFlow(start, end)
                    else { break }
                    total += length
                    end += 1
                    if length < segmentSize { break }  // only the last datagram of a run may be shorter
                }
            }
            runStarts[count] = start
            if end - start > 1 {
                runs[count].msg_hdr = msghdr(
                    msg_name: messages[start].msg_hdr.msg_name, msg_namelen: messages[start].msg_hdr.msg_namelen,
                    msg_iov: vectors + start, msg_iovlen: end - start, msg_control: nil, msg_controllen: 0,
                    msg_flags: 0)
                // Slot `start`'s own message keeps pointing at the packet info, which stays first.
                tern_write_segmented(
                    &runs[count].msg_hdr, controls + start * controlLength, locals + start, UInt16(segmentSize))
            } else {
                runs[count].msg_hdr = messages[start].msg_hdr
            }
            runs[count].msg_len = 0
            count += 1
            start = end
        }
        runStarts[count] = slots.upperBound
        return count
    }

    /// Whether slots `a` and `b` go to the same peer from the same source.
    @inline(__always)
    private func sameFlow(_ a: Int, _ b: Int) -> Bool {
        let nameLength = messages[a].msg_hdr.msg_namelen
        guard nameLength == messages[b].msg_hdr.msg_namelen else { return false }
        if nameLength > 0
            && memcmp(
                names + a * SocketAddress.storageLength, names + b * SocketAddress.storageLength, Int(nameLength)) != 0
        {
            return false
        }
        return memcmp(locals + a, locals + b, MemoryLayout<tern_local_address>.size) == 0
    }
}
