internal import CTernOS
#if canImport(Glibc)
import Glibc
#endif

/// A TUN device (IFF_TUN | IFF_NO_PI): each read is one IP packet, each write sends one into the kernel.
///
/// Non-blocking. Opened with `virtioHeaders`, every read and write starts with a 10-octet
/// `struct virtio_net_hdr` (IFF_VNET_HDR), and ``enableOffloads(_:)`` lets the kernel hand over
/// unchecksummed packets and TCP/UDP super-packets of up to 64 KiB, and take them back (wireguard-go's
/// tun/tun_linux.go, QEMU's tap). Room is left for IFF_MULTI_QUEUE through `extraFlags`.
public final class TunDevice: @unchecked Sendable {
    public let descriptor: FileDescriptor
    /// The interface's name as the kernel knows it.
    public let name: String
    /// Its interface index.
    public let index: UInt32
    /// Octets of virtio header before every packet read or written: ``virtioNetHeaderLength``, or 0
    /// without virtio headers.
    public let virtioHeaderLength: Int

    /// Linux interface names are at most 15 characters (IFNAMSIZ − 1).
    public static let maximumNameLength = 15
    /// `sizeof(struct virtio_net_hdr)` (linux/virtio_net.h): flags, gso_type, hdr_len, gso_size,
    /// csum_start, csum_offset. Set explicitly with TUNSETVNETHDRSZ, so a kernel default never decides it.
    public static let virtioNetHeaderLength = 10
    /// The longest packet a read can return after the virtio header: a super-packet stays within one IP
    /// packet's 64 KiB (the device's default gso_max_size). A read buffer of `virtioHeaderLength` plus
    /// this never truncates.
    public static let maximumPacketLength = 65_535

    /// Opens (creating if needed) the TUN interface `name`.
    /// - Parameter virtioHeaders: IFF_VNET_HDR, with a header length of ``virtioNetHeaderLength``; needed
    ///   for ``enableOffloads(_:)``. Reads and writes then carry the header.
    public init(name: String, virtioHeaders: Bool = false, extraFlags: Int32 = 0) throws(SystemCallError) {
        guard !name.isEmpty, name.utf8.count <= Self.maximumNameLength, !name.contains("/"), !name.contains(" ") else {
            throw SystemCallError("TUN name '\(name)' (1–15 characters, no '/' or spaces)", errno: EINVAL)
        }
        var actual = [CChar](repeating: 0, count: 16)
        let flags = extraFlags | (virtioHeaders ? TERN_IFF_VNET_HDR : 0)
        let fd = try SystemCall.call("open /dev/net/tun and TUNSETIFF \(name)") {
            tern_tun_open(name, flags, &actual)
        }
        descriptor = FileDescriptor(taking: fd)
        let actualName = String(decoding: actual.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        self.name = actualName
        if virtioHeaders {
            let length = Int32(Self.virtioNetHeaderLength)
            _ = try SystemCall.call("TUNSETVNETHDRSZ \(actualName) \(length)") {
                tern_tun_set_vnet_header_length(fd, length)
            }
        }
        virtioHeaderLength = virtioHeaders ? Self.virtioNetHeaderLength : 0
        let index = tern_if_index(actualName)
        guard index != 0 else { throw SystemCallError("if_nametoindex \(actualName)", errno: Glibc.errno) }
        self.index = index
        quietRouterSolicitations()
    }

    /// A tunnel has no router to find: without this the kernel sends IPv6 Router Solicitations out of
    /// the device once it is up, for ever (`router_solicitations` −1 by default, backing off from 4 s to
    /// an hour), and each one wakes the data plane and, on a Mobile Node, crosses the tunnel to be
    /// dropped by the Home Agent (DESIGN.md: idle is idle). Set before the device goes up, so that none
    /// is sent. Best effort: without IPv6 there is nothing to quiet.
    private func quietRouterSolicitations() {
        _ = try? Sysctl.write(Sysctl.name("net.ipv6.conf", interface: name, "router_solicitations"), "0")
    }

    /// Asks the kernel for the offloads in `wanted` (TUNSETOFFLOAD) and returns those it accepted. The
    /// kernel takes a set whole or refuses it, so this tries `wanted`, then without UDP segmentation
    /// (Linux 6.2, and USO4 only with USO6), then without TCP segmentation too (which needs `.checksum`),
    /// then none. Without virtio headers nothing can be offloaded: returns [] untouched.
    ///
    /// Call once after opening, before traffic: a persistent device keeps the last owner's setting, and
    /// [] turns it off.
    public func enableOffloads(_ wanted: TunOffloads) -> TunOffloads {
        guard virtioHeaderLength > 0 else { return [] }
        let withoutUDP = wanted.subtracting([.uso4, .uso6])
        let checksumOnly = withoutUDP.subtracting([.tso4, .tso6, .tsoECN])
        var tried: TunOffloads? = nil
        for candidate in [wanted, withoutUDP, checksumOnly, []] where candidate != tried {
            tried = candidate
            let accepted = (try? SystemCall.call("TUNSETOFFLOAD \(name) \(candidate)") {
                tern_tun_set_offload(descriptor.rawValue, candidate.rawValue)
            }) != nil
            if accepted { return candidate }
        }
        return []
    }

    /// Reads one packet into `buffer` (after its virtio header, when the device has them); returns the
    /// octets read, or nil when none is waiting.
    @inline(__always)
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemCallError) -> Int? {
        try SystemCall.nonBlocking("read \(name)") { Glibc.read(descriptor.rawValue, buffer.baseAddress, buffer.count) }
    }

    /// Writes one packet (after its virtio header, when the device has them). Returns false when the
    /// kernel's queue is full (the packet is dropped).
    @inline(__always)
    public func write(_ packet: UnsafeRawBufferPointer) throws(SystemCallError) -> Bool {
        try SystemCall.nonBlocking("write \(name)") { Glibc.write(descriptor.rawValue, packet.baseAddress, packet.count) } != nil
    }

    /// Reads one packet with its virtio header apart (readv): the header into `header`
    /// (``virtioHeaderLength`` octets), the packet into `packet`, so the packet lands where the caller
    /// wants it (behind a slot's headroom) without a copy. Returns the packet's length, or nil when none
    /// is waiting. `packet` should hold ``maximumPacketLength`` octets, or a super-packet is cut short.
    @inline(__always)
    public func read(
        header: UnsafeMutableRawBufferPointer, packet: UnsafeMutableRawBufferPointer
    ) throws(SystemCallError) -> Int? {
        let read = try withUnsafeTemporaryAllocation(of: iovec.self, capacity: 2) { vectors throws(SystemCallError) in
            vectors[0] = iovec(iov_base: header.baseAddress, iov_len: header.count)
            vectors[1] = iovec(iov_base: packet.baseAddress, iov_len: packet.count)
            return try SystemCall.nonBlocking("readv \(name)") { readv(descriptor.rawValue, vectors.baseAddress, 2) }
        }
        return read.map { max($0 - header.count, 0) }
    }

    /// Writes one packet given as its virtio header and the packet apart (writev: the kernel takes one
    /// write as one packet, however many vectors). Returns false when the kernel's queue is full.
    @inline(__always)
    public func write(header: UnsafeRawBufferPointer, packet: UnsafeRawBufferPointer) throws(SystemCallError) -> Bool {
        try withUnsafeTemporaryAllocation(of: iovec.self, capacity: 2) { vectors throws(SystemCallError) in
            vectors[0] = iovec(iov_base: UnsafeMutableRawPointer(mutating: header.baseAddress), iov_len: header.count)
            vectors[1] = iovec(iov_base: UnsafeMutableRawPointer(mutating: packet.baseAddress), iov_len: packet.count)
            return try SystemCall.nonBlocking("writev \(name)") { writev(descriptor.rawValue, vectors.baseAddress, 2) }
        } != nil
    }
}

/// What a TUN device's reader can take from the kernel (TUNSETOFFLOAD flags, linux/if_tun.h).
public struct TunOffloads: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// TUN_F_CSUM: packets may come with the transport checksum left to do (virtio NEEDS_CSUM).
    public static let checksum = TunOffloads(rawValue: UInt32(TERN_TUN_F_CSUM))
    /// TUN_F_TSO4 / TUN_F_TSO6: TCP super-packets over IPv4 / IPv6 (need `.checksum`).
    public static let tso4 = TunOffloads(rawValue: UInt32(TERN_TUN_F_TSO4))
    public static let tso6 = TunOffloads(rawValue: UInt32(TERN_TUN_F_TSO6))
    /// TUN_F_TSO_ECN: TCP super-packets with ECN's CWR set (needs TSO).
    public static let tsoECN = TunOffloads(rawValue: UInt32(TERN_TUN_F_TSO_ECN))
    /// TUN_F_USO4 / TUN_F_USO6 (Linux 6.2): UDP super-packets, cut into datagrams by the reader. The
    /// kernel takes them only together, and only with `.checksum`.
    public static let uso4 = TunOffloads(rawValue: UInt32(TERN_TUN_F_USO4))
    public static let uso6 = TunOffloads(rawValue: UInt32(TERN_TUN_F_USO6))

    /// Everything above.
    public static let all: TunOffloads = [.checksum, .tso4, .tso6, .tsoECN, .uso4, .uso6]

    /// E.g. `checksum,tso4,tso6,uso4,uso6`, or `none`.
    public var description: String {
        let names: [(TunOffloads, String)] = [
            (.checksum, "checksum"), (.tso4, "tso4"), (.tso6, "tso6"), (.tsoECN, "tsoECN"), (.uso4, "uso4"),
            (.uso6, "uso6"),
        ]
        let present = names.filter { contains($0.0) }.map(\.1)
        let unknown = subtracting(.all)
        let all = present + (unknown.isEmpty ? [] : ["0x" + String(unknown.rawValue, radix: 16)])
        return all.isEmpty ? "none" : all.joined(separator: ",")
    }
}
