public import CTernOS
#if canImport(Glibc)
import Glibc
#endif

/// Fixed vectors for `recvmmsg` / `sendmmsg`: one slot per datagram, each with its packet buffer, iovec,
/// peer address and packet-info control buffer, all allocated once (swift-nio's
/// DatagramVectorReadManager, wireguard-go's batches). Nothing is allocated per datagram.
///
/// Not thread-safe: one thread owns a batch.
public final class DatagramBatch {
    /// Slots in the batch.
    public let capacity: Int
    /// Octets of packet buffer per slot.
    public let slotLength: Int

    private let packets: UnsafeMutableRawPointer
    private let messages: UnsafeMutablePointer<tern_mmsghdr>
    private let vectors: UnsafeMutablePointer<iovec>
    private let names: UnsafeMutableRawPointer
    private let controls: UnsafeMutableRawPointer
    private let controlLength: Int
    /// Per slot: the local address a datagram arrived on, or the source to send from.
    private let locals: UnsafeMutablePointer<tern_local_address>

    /// Slots per batch by default: enough to amortise each system call without long latency spikes.
    public static let defaultCapacity = 64

    public init(capacity: Int = defaultCapacity, slotLength: Int) {
        precondition(capacity > 0 && slotLength > 0)
        self.capacity = capacity
        self.slotLength = slotLength
        controlLength = tern_pktinfo_control_length()
        packets = .allocate(byteCount: capacity * slotLength, alignment: 64)
        messages = .allocate(capacity: capacity)
        vectors = .allocate(capacity: capacity)
        names = .allocate(byteCount: capacity * SocketAddress.storageLength, alignment: 8)
        controls = .allocate(byteCount: capacity * controlLength, alignment: 8)
        locals = .allocate(capacity: capacity)
        messages.initialize(repeating: tern_mmsghdr(), count: capacity)
        vectors.initialize(repeating: iovec(), count: capacity)
        locals.initialize(repeating: tern_local_address(), count: capacity)
        packets.initializeMemory(as: UInt8.self, repeating: 0, count: capacity * slotLength)
    }

    deinit {
        packets.deallocate()
        messages.deallocate()
        vectors.deallocate()
        names.deallocate()
        controls.deallocate()
        locals.deallocate()
    }

    /// The whole packet buffer of slot `index`.
    @inline(__always)
    public func buffer(_ index: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: packets + index * slotLength, count: slotLength)
    }

    // MARK: Receiving

    /// Receives up to `capacity` datagrams, each at offset 0 of its slot. Returns how many arrived
    /// (0 when none was waiting).
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
            if tern_read_pktinfo(&messages[index].msg_hdr, locals + index) != 0 {
                locals[index] = tern_local_address()
            }
        }
        return Int(count)
    }

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

    /// The local address the datagram in slot `index` was sent to (family 0 without packet info).
    @inline(__always)
    public func localAddress(_ index: Int) -> tern_local_address { locals[index] }

    // MARK: Sending

    /// Prepares slot `index` to send the octets at `range` of its buffer to `destination` (nil on a
    /// connected socket), from `source` (family 0: let routing choose).
    @inline(__always)
    public func prepareToSend(
        _ index: Int, range: Range<Int>, to destination: SocketAddress?, from source: tern_local_address
    ) {
        vectors[index] = iovec(iov_base: packets + index * slotLength + range.lowerBound, iov_len: range.count)
        let name = names + index * SocketAddress.storageLength
        let nameLength = destination.map { $0.write(to: name) } ?? 0
        messages[index].msg_hdr = msghdr(
            msg_name: nameLength > 0 ? name : nil, msg_namelen: socklen_t(nameLength), msg_iov: vectors + index,
            msg_iovlen: 1, msg_control: nil, msg_controllen: 0, msg_flags: 0)
        locals[index] = source
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
    /// allows. Returns how many were handed to the kernel. The rest were dropped: the socket buffer
    /// stayed full (a datagram socket that would block drops, as a router would), or the kernel refused
    /// one (no route, too big), which is skipped and counted in `refused` so that one bad destination
    /// does not stall the batch.
    @discardableResult
    public func send(_ slots: Range<Int>, on socket: UDPSocket, refused: inout Int) -> Int {
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
}
