public import TernProtocol

/// A minimal IPv4 packet (RFC 791 header, UDP protocol number, `length` octets in all, the rest `fill`)
/// from `source` to `destination`; empty unless both are IPv4.
public func ipv4TestPacket(from source: IPAddress, to destination: IPAddress, length: Int = 60, fill: UInt8 = 0xA5) -> [UInt8] {
    guard case .v4(let from) = source, case .v4(let to) = destination else { return [] }
    var packet = [UInt8](repeating: fill, count: max(length, 20))
    packet.replaceSubrange(0..<12, with: [0x45, 0, UInt8(packet.count >> 8), UInt8(packet.count & 0xFF), 0, 0, 0, 0, 64, 17, 0, 0])
    for shift in 0..<4 {
        packet[12 + shift] = UInt8(truncatingIfNeeded: from.rawValue >> (24 - 8 * shift))
        packet[16 + shift] = UInt8(truncatingIfNeeded: to.rawValue >> (24 - 8 * shift))
    }
    return packet
}
