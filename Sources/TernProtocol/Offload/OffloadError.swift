/// Why a packet read from a TUN device with offloads could not be turned into ordinary packets. Each
/// says what was wrong; the data plane counts them as one drop reason.
public enum OffloadError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Fewer than the 10 octets of a virtio_net_hdr.
    case truncatedVirtioHeader(length: Int)
    /// A GSO type Tern does not handle (the raw octet, ECN bit included).
    case unsupportedGSOType(UInt8)
    /// The packet ends before the headers it announces (`needed` octets).
    case truncatedPacket(length: Int, needed: Int)
    /// The first nibble is neither 4 nor 6.
    case unknownIPVersion(UInt8)
    /// An IPv4 Internet Header Length below 5 words.
    case badIPv4HeaderLength(Int)
    /// IPv4 Total Length, or 40 + IPv6 Payload Length, is not the number of octets read.
    case lengthMismatch(declared: Int, actual: Int)
    /// An IPv4 fragment (MF set or a non-zero offset) where whole datagrams are required.
    case fragment
    /// IPv6 extension headers before the transport header of a super-packet.
    case ipv6ExtensionHeaders(nextHeader: UInt8)
    /// Neither TCP nor UDP where segmentation needs one of them.
    case unsupportedTransportProtocol(UInt8)
    /// The GSO type does not fit the packet (TCPv4 on IPv6, UDP_L4 on TCP, …).
    case gsoTypeMismatch(gsoType: UInt8, ipVersion: UInt8, transportProtocol: UInt8)
    /// A TCP Data Offset below 5 words.
    case badTCPDataOffset(Int)
    /// csum_start/csum_offset of a super-packet do not point at the parsed transport checksum field.
    case checksumLocationMismatch(start: Int, offset: Int)
    /// csum_start/csum_offset of a single packet point outside it.
    case checksumOutsidePacket(start: Int, offset: Int, length: Int)
    /// A super-packet with gso_size 0.
    case zeroSegmentSize
    /// More segments than `PacketSegmenter.maximumSegmentCount`.
    case tooManySegments(Int)
    /// The caller's buffer cannot hold the next packet.
    case destinationTooSmall(needed: Int, available: Int)

    public var description: String {
        switch self {
        case .truncatedVirtioHeader(let length): "virtio_net_hdr truncated: \(length) of 10 octets"
        case .unsupportedGSOType(let type): "unsupported virtio GSO type \(type)"
        case .truncatedPacket(let length, let needed): "packet of \(length) octets, its headers need \(needed)"
        case .unknownIPVersion(let version): "IP version \(version)"
        case .badIPv4HeaderLength(let length): "IPv4 header length \(length) octets"
        case .lengthMismatch(let declared, let actual): "IP length field says \(declared) octets, \(actual) read"
        case .fragment: "IPv4 fragment in a super-packet"
        case .ipv6ExtensionHeaders(let next): "IPv6 extension header \(next) before the transport header"
        case .unsupportedTransportProtocol(let proto): "transport protocol \(proto) cannot be segmented"
        case .gsoTypeMismatch(let type, let version, let proto):
            "GSO type \(type) on IPv\(version) protocol \(proto)"
        case .badTCPDataOffset(let length): "TCP header length \(length) octets"
        case .checksumLocationMismatch(let start, let offset):
            "csum_start \(start) / csum_offset \(offset) do not match the transport header"
        case .checksumOutsidePacket(let start, let offset, let length):
            "csum_start \(start) + csum_offset \(offset) outside a \(length)-octet packet"
        case .zeroSegmentSize: "super-packet with gso_size 0"
        case .tooManySegments(let count): "super-packet of \(count) segments"
        case .destinationTooSmall(let needed, let available):
            "segment of \(needed) octets, buffer of \(available)"
        }
    }
}
