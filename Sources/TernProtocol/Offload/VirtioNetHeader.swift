/// `struct virtio_net_hdr` (linux/virtio_net.h, Virtio 1.x §5.1.6): the 10 octets in front of every packet
/// read from or written to a TUN device opened with `IFF_VNET_HDR`. A TUN device uses the host's byte
/// order unless told otherwise (`TUNSETVNETLE`); Tern only runs on little-endian hosts, so the 16-bit fields
/// are read and written little-endian.
///
/// On a read, the kernel describes what it left undone: a super-packet to be cut into `gsoSize`-octet
/// segments (`gsoType`), and/or a checksum still to be completed (`needsChecksum`, CHECKSUM_PARTIAL). On a
/// write, Tern describes the same things for a coalesced super-packet (see `ReceiveCoalescer`).
public struct VirtioNetHeader: Equatable, Sendable {
    /// `sizeof(struct virtio_net_hdr)`.
    public static let length = 10

    /// VIRTIO_NET_HDR_F_NEEDS_CSUM: the checksum from `checksumStart` to the end is still to be computed
    /// and stored at `checksumStart + checksumOffset`, which holds the pseudo-header sum as a seed.
    public static let needsChecksumFlag: UInt8 = 0x01
    /// VIRTIO_NET_HDR_F_DATA_VALID: the checksum was already verified.
    public static let dataValidFlag: UInt8 = 0x02
    /// VIRTIO_NET_HDR_GSO_ECN, or-ed into the GSO type: the TCP flow has CWR set (RFC 3168).
    static let ecnBit: UInt8 = 0x80

    /// The segmentation the packet asks for (VIRTIO_NET_HDR_GSO_*). UFO (3) is refused: Linux no longer
    /// produces it and Tern does not enable it.
    public enum GSOType: UInt8, Sendable {
        case none = 0
        case tcpv4 = 1
        case tcpv6 = 4
        case udpL4 = 5
    }

    public var flags: UInt8
    public var gsoType: GSOType
    /// VIRTIO_NET_HDR_GSO_ECN.
    public var ecn: Bool
    /// Length of the headers before the payload. On a read it is advisory only: on the forward path the
    /// kernel puts the whole linear part there, so the segmenter trusts the parsed headers instead.
    public var headerLength: UInt16
    /// Payload octets per segment (the MSS for TCP).
    public var gsoSize: UInt16
    public var checksumStart: UInt16
    public var checksumOffset: UInt16

    public init(
        flags: UInt8 = 0, gsoType: GSOType = .none, ecn: Bool = false, headerLength: UInt16 = 0,
        gsoSize: UInt16 = 0, checksumStart: UInt16 = 0, checksumOffset: UInt16 = 0
    ) {
        self.flags = flags
        self.gsoType = gsoType
        self.ecn = ecn
        self.headerLength = headerLength
        self.gsoSize = gsoSize
        self.checksumStart = checksumStart
        self.checksumOffset = checksumOffset
    }

    /// Parses the first 10 octets of `bytes`.
    ///
    /// - Throws: `.truncatedVirtioHeader` when fewer than 10 octets are given; `.unsupportedGSOType` for a
    ///   GSO type other than none, TCPv4, TCPv6 and UDP_L4 (UFO included), or ECN without segmentation
    ///   (which the kernel refuses too).
    public init(parsing bytes: UnsafeRawBufferPointer) throws(OffloadError) {
        guard bytes.count >= Self.length else { throw .truncatedVirtioHeader(length: bytes.count) }
        let rawType = bytes[1]
        guard let gsoType = GSOType(rawValue: rawType & ~Self.ecnBit),
            !(gsoType == .none && rawType & Self.ecnBit != 0)
        else { throw .unsupportedGSOType(rawType) }
        flags = bytes[0]
        self.gsoType = gsoType
        ecn = rawType & Self.ecnBit != 0
        headerLength = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
        gsoSize = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt16.self))
        checksumStart = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 6, as: UInt16.self))
        checksumOffset = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt16.self))
    }

    /// Writes the 10 octets at the start of `destination`. Returns false, writing nothing, when
    /// `destination` is shorter than 10 octets.
    @inline(__always)
    @discardableResult
    public func write(to destination: UnsafeMutableRawBufferPointer) -> Bool {
        guard destination.count >= Self.length else { return false }
        destination[0] = flags
        destination[1] = gsoType.rawValue | (ecn ? Self.ecnBit : 0)
        destination.storeBytes(of: headerLength.littleEndian, toByteOffset: 2, as: UInt16.self)
        destination.storeBytes(of: gsoSize.littleEndian, toByteOffset: 4, as: UInt16.self)
        destination.storeBytes(of: checksumStart.littleEndian, toByteOffset: 6, as: UInt16.self)
        destination.storeBytes(of: checksumOffset.littleEndian, toByteOffset: 8, as: UInt16.self)
        return true
    }

    /// VIRTIO_NET_HDR_F_NEEDS_CSUM is set.
    public var needsChecksum: Bool { flags & Self.needsChecksumFlag != 0 }

    /// Completes a partial checksum in place, as the kernel's `skb_checksum_help` does: the one's-complement
    /// sum of `packet[checksumStart...]` (whose checksum field holds the seeded pseudo-header sum) is
    /// complemented and stored at `checksumStart + checksumOffset`, a result of 0 as 0xFFFF (RFC 768's rule;
    /// the same value in one's complement for TCP). Does nothing without `needsChecksum`.
    ///
    /// Meant for `gsoType == .none` packets, so the data plane can fix a packet where it was read without
    /// copying it.
    ///
    /// - Throws: `.checksumOutsidePacket` when the field does not lie inside `packet`.
    public func completeChecksum(in packet: UnsafeMutableRawBufferPointer) throws(OffloadError) {
        guard needsChecksum else { return }
        let start = Int(checksumStart)
        let field = start + Int(checksumOffset)
        guard start < packet.count, field + 2 <= packet.count, let base = packet.baseAddress else {
            throw .checksumOutsidePacket(start: start, offset: Int(checksumOffset), length: packet.count)
        }
        let folded = ~InternetChecksum.fold(InternetChecksum.sum(UnsafeRawPointer(base + start),
            count: packet.count - start))
        packet.storeBigEndian(folded == 0 ? 0xFFFF : folded, at: field)
    }
}
