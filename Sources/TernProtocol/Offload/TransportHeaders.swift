/// Where the IP and TCP/UDP headers of one packet are, parsed without copying. Shared by the segmenter
/// and the coalescer so both read the same rules in one place.
///
/// A packet parses only when it is whole and self-consistent: IPv4 (RFC 791) with IHL ≥ 5 and Total Length
/// equal to the octets given, not a fragment; or IPv6 (RFC 8200) with Payload Length + 40 equal to the
/// octets given and TCP or UDP directly after the fixed header; then a TCP header (RFC 9293) whose Data
/// Offset fits, or a UDP header (RFC 768).
struct TransportHeaders {
    static let udpHeaderLength = 8
    static let minimumTCPHeaderLength = 20
    /// The Checksum field's place inside the transport header.
    static let tcpChecksumOffset = 16
    static let udpChecksumOffset = 6
    static let tcpFlagsOffset = 13

    /// TCP control bits (RFC 9293 §3.1, RFC 3168 §6.1).
    static let fin: UInt8 = 0x01
    static let syn: UInt8 = 0x02
    static let rst: UInt8 = 0x04
    static let psh: UInt8 = 0x08
    static let ack: UInt8 = 0x10
    static let urg: UInt8 = 0x20
    static let ece: UInt8 = 0x40
    static let cwr: UInt8 = 0x80

    /// IPv6 Next Header values that are extension headers (IANA "IPv6 Extension Header Types").
    @inline(__always)
    static func isIPv6ExtensionHeader(_ nextHeader: UInt8) -> Bool {
        switch nextHeader {
        case 0, 43, 44, 50, 51, 60, 135, 139, 140, 253, 254: true
        default: false
        }
    }

    let isIPv6: Bool
    let ipHeaderLength: Int
    let protocolNumber: UInt8
    let transportHeaderLength: Int

    /// Parses `packet`. A `Result` rather than `throws`: the coalescer meets unparsable packets (ICMP, say)
    /// all the time, and a throw costs a runtime call (`swift_willThrowTypedImpl`) per packet.
    @inline(__always)
    static func parse(_ packet: UnsafeRawBufferPointer) -> Result<TransportHeaders, OffloadError> {
        let count = packet.count
        guard count >= 1 else { return .failure(.truncatedPacket(length: 0, needed: 1)) }
        let version = packet[0] >> 4
        let isIPv6: Bool
        let ipHeaderLength: Int
        let transport: UInt8
        switch version {
        case 4:
            guard count >= InnerPacket.minimumIPv4HeaderLength else {
                return .failure(.truncatedPacket(length: count, needed: InnerPacket.minimumIPv4HeaderLength))
            }
            let headerLength = Int(packet[0] & 0x0F) &* 4
            guard headerLength >= InnerPacket.minimumIPv4HeaderLength else {
                return .failure(.badIPv4HeaderLength(headerLength))
            }
            guard count >= headerLength else { return .failure(.truncatedPacket(length: count, needed: headerLength)) }
            let totalLength = Int(packet.loadBigEndianUInt16(at: 2))
            guard totalLength == count else { return .failure(.lengthMismatch(declared: totalLength, actual: count)) }
            // MF, or a Fragment Offset: the transport header is elsewhere or incomplete.
            guard packet.loadBigEndianUInt16(at: 6) & 0x3FFF == 0 else { return .failure(.fragment) }
            isIPv6 = false
            ipHeaderLength = headerLength
            transport = packet[9]
        case 6:
            guard count >= InnerPacket.ipv6HeaderLength else {
                return .failure(.truncatedPacket(length: count, needed: InnerPacket.ipv6HeaderLength))
            }
            let declared = Int(packet.loadBigEndianUInt16(at: 4)) &+ InnerPacket.ipv6HeaderLength
            guard declared == count else { return .failure(.lengthMismatch(declared: declared, actual: count)) }
            transport = packet[6]
            guard !isIPv6ExtensionHeader(transport) else { return .failure(.ipv6ExtensionHeaders(nextHeader: transport)) }
            isIPv6 = true
            ipHeaderLength = InnerPacket.ipv6HeaderLength
        default:
            return .failure(.unknownIPVersion(version))
        }
        let transportHeaderLength: Int
        switch transport {
        case InternetChecksum.protocolTCP:
            let minimum = ipHeaderLength &+ minimumTCPHeaderLength
            guard count >= minimum else { return .failure(.truncatedPacket(length: count, needed: minimum)) }
            let tcpLength = Int(packet[ipHeaderLength &+ 12] >> 4) &* 4
            guard tcpLength >= minimumTCPHeaderLength else { return .failure(.badTCPDataOffset(tcpLength)) }
            guard count >= ipHeaderLength &+ tcpLength else {
                return .failure(.truncatedPacket(length: count, needed: ipHeaderLength &+ tcpLength))
            }
            transportHeaderLength = tcpLength
        case InternetChecksum.protocolUDP:
            let minimum = ipHeaderLength &+ udpHeaderLength
            guard count >= minimum else { return .failure(.truncatedPacket(length: count, needed: minimum)) }
            transportHeaderLength = udpHeaderLength
        default:
            return .failure(.unsupportedTransportProtocol(transport))
        }
        return .success(TransportHeaders(
            isIPv6: isIPv6, ipHeaderLength: ipHeaderLength, protocolNumber: transport,
            transportHeaderLength: transportHeaderLength))
    }

    var isTCP: Bool { protocolNumber == InternetChecksum.protocolTCP }
    var ipVersion: UInt8 { isIPv6 ? 6 : 4 }
    var headersLength: Int { ipHeaderLength + transportHeaderLength }
    /// Source and destination addresses, back to back, as the pseudo-header takes them.
    var addressOffset: Int { isIPv6 ? 8 : 12 }
    var addressesLength: Int { isIPv6 ? 32 : 8 }
    var checksumFieldOffset: Int {
        ipHeaderLength + (isTCP ? Self.tcpChecksumOffset : Self.udpChecksumOffset)
    }

    /// The pseudo-header sum of `packet` for an upper-layer length of `transportLength` octets.
    @inline(__always)
    func pseudoHeaderSum(_ packet: UnsafeRawBufferPointer, transportLength: Int) -> UInt32 {
        InternetChecksum.pseudoHeaderSum(
            addresses: UnsafeRawBufferPointer(rebasing: packet[addressOffset..<(addressOffset &+ addressesLength)]),
            protocolNumber: protocolNumber, length: transportLength)
    }
}
