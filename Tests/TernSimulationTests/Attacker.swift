import TernProtocol
import TernTestSupport

extension Simulation {
    // MARK: The attacker

    static let attackerV4 = SimAddress(ip: .v4(IPv4Address(192, 0, 2, 66)), port: 6666)
    static let attackerV6 = SimAddress(ip: .v6(IPv6Address(high: 0x2001_0db8_0bad_0000, low: 0x66)), port: 6666)

    /// Replays, reflects and forges datagrams it saw delivered (it sees the Internet side of every NAT,
    /// but is never faster than the network: what it captured was delivered first).
    func attack() {
        guard !captured.isEmpty else { return }
        var datagram = captured[Int.random(in: 0..<captured.count, using: &random)]
        let attacker = datagram.to.ip.isIPv4 ? Self.attackerV4 : Self.attackerV6
        let kind = Int.random(in: 0..<6, using: &random)
        switch kind {
        case 0:
            datagram.provenance = .attacker("replay")
        case 1:
            datagram.from = attacker
            datagram.provenance = .attacker("reflect from the attacker's address")
        case 2:
            // Back to where it came from, or to another Home Agent.
            let target = homeAgents[Int.random(in: 0..<homeAgents.count, using: &random)]
            datagram.to = datagram.to.ip.isIPv4 ? target.addressV4 : target.addressV6
            datagram.from = attacker
            datagram.provenance = .attacker("reflect to a Home Agent")
        case 3:
            guard datagram.bytes.count > 8 else { return }
            let position = Int.random(in: 0..<datagram.bytes.count, using: &random)
            datagram.bytes[position] ^= UInt8.random(in: 1...255, using: &random)
            if random.chance(50) { datagram.from = attacker }
            datagram.provenance = .attacker("bit flip at \(position)")
        case 4:
            // A new datagram under a live SPI, with a sequence number ahead of everything.
            var bytes = datagram.bytes
            guard bytes.count >= 8 else { return }
            let sequence = UInt32.random(in: 1...UInt32.max, using: &random)
            for index in 0..<4 { bytes[4 + index] = UInt8(truncatingIfNeeded: sequence >> (24 - 8 * index)) }
            for index in 8..<bytes.count { bytes[index] = UInt8.random(in: 0...255, using: &random) }
            datagram.bytes = bytes
            datagram.from = random.chance(50) ? attacker : datagram.from
            datagram.provenance = .attacker("forged under a live SPI")
        default:
            // Sent towards a Mobile Node (another's, or its own previous address).
            let target = mobileNodes[Int.random(in: 0..<mobileNodes.count, using: &random)]
            datagram.to = target.publicAddress
            datagram.from = random.chance(50) ? attacker : datagram.from
            datagram.provenance = .attacker("sent to mn\(target.index)")
        }
        queue.schedule(.deliver(datagram), at: now + random.between(0, 50 * millisecond))
    }
}
