@testable import TernDataChannel
import TernProtocol
import TernTestSupport

/// An SA's four halves: what the MN sends with and the HA opens with, and the reverse.
struct Pair {
    let association: SecurityAssociation
    let mobileNodeOut: OutboundSecurityAssociation
    let mobileNodeIn: InboundSecurityAssociation
    let homeAgentOut: OutboundSecurityAssociation
    let homeAgentIn: InboundSecurityAssociation

    var suite: Ciphersuite { association.suite }
}

let testSPI = SecurityParameterIndex(rawValue: 0x0123_4567)!

/// Random keys of the right lengths for `suite`, both directions.
func makePair(
    _ suite: Ciphersuite, scope: SecurityAssociationScope = .allTraffic, seed: UInt64 = 1,
    spi: SecurityParameterIndex = testSPI, lastSent: UInt32 = 0, lanes: Int = 1
) throws -> Pair {
    var random = SeededRandom(seed: seed &+ UInt64(suite.rawValue))
    let mnToHa = try DirectionalKeys(
        suite: suite, encryptionKey: random.bytes(suite.encryptionKeyLength),
        integrityKey: random.bytes(suite.integrityKeyLength))
    let haToMn = try DirectionalKeys(
        suite: suite, encryptionKey: random.bytes(suite.encryptionKeyLength),
        integrityKey: random.bytes(suite.integrityKeyLength))
    let association = SecurityAssociation(
        securityParameterIndex: spi, suite: suite, scope: scope, mobileNodeToHomeAgent: mnToHa,
        homeAgentToMobileNode: haToMn)
    let mn = try association.makeEndpoints(for: .mobileNode, lastSentSequenceNumber: lastSent, lanes: lanes)
    let ha = try association.makeEndpoints(for: .homeAgent, lastSentSequenceNumber: lastSent, lanes: lanes)
    return Pair(
        association: association, mobileNodeOut: mn.outbound, mobileNodeIn: mn.inbound, homeAgentOut: ha.outbound,
        homeAgentIn: ha.inbound)
}

/// A payload whose first octet says what its Next Header says (the receiver checks the version).
func innerPacket(_ nextHeader: UInt8, length: Int, seed: UInt8 = 0) -> [UInt8] {
    guard length > 0 else { return [] }
    let first: UInt8 =
        switch nextHeader {
        case NextHeader.ipv4: 0x45
        case NextHeader.ipv6: 0x60
        default: 0x87
        }
    return [first] + (1..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) }
}

/// Seals `payload` with `outbound` into a fresh array sized exactly to the datagram.
func sealed(
    _ outbound: OutboundSecurityAssociation, _ packetType: PacketType, nextHeader: UInt8, _ payload: [UInt8]
) throws -> [UInt8] {
    let suite = outbound.suite
    var buffer = [UInt8](repeating: 0, count: suite.headroom + payload.count + suite.tailroom)
    buffer.replaceSubrange(suite.headroom..<(suite.headroom + payload.count), with: payload)
    let range = try buffer.withUnsafeMutableBytes {
        try outbound.seal(
            packetType, nextHeader: nextHeader, in: $0, payload: suite.headroom..<(suite.headroom + payload.count)
        ).range
    }
    return Array(buffer[range])
}

/// Opens a copy of `datagram`; returns what came out and the payload octets.
func opened(
    _ inbound: InboundSecurityAssociation, _ datagram: [UInt8]
) throws(DataChannelDropReason) -> (OpenedDatagram, [UInt8]) {
    var copy = datagram
    let result: Result<(OpenedDatagram, [UInt8]), DataChannelDropReason> = copy.withUnsafeMutableBytes { buffer in
        do throws(DataChannelDropReason) {
            let opened = try inbound.open(buffer, datagram: 0..<buffer.count)
            return .success((opened, Array(buffer[opened.payload])))
        } catch {
            return .failure(error)
        }
    }
    return try result.get()
}

/// The reason `inbound` drops `datagram`, or nil when it opens.
func dropReason(_ inbound: InboundSecurityAssociation, _ datagram: [UInt8]) -> DataChannelDropReason? {
    do {
        _ = try opened(inbound, datagram)
        return nil
    } catch {
        return error
    }
}

/// An authentic datagram whose encrypted part is exactly `plaintext` (payload, padding, Pad Length and
/// Next Header as the test wants them, aligned by the caller): for trailers a correct sender never makes.
func crafted(
    _ outbound: OutboundSecurityAssociation, packetType: UInt8, sequenceNumber: UInt32, plaintext: [UInt8]
) throws -> [UInt8] {
    let suite = outbound.suite
    var buffer = [UInt8](repeating: 0, count: suite.headroom + plaintext.count + suite.icvLength)
    buffer.replaceSubrange(suite.headroom..<(suite.headroom + plaintext.count), with: plaintext)
    try buffer.withUnsafeMutableBytes { raw in
        var header = DataChannelHeader(
            packetType: .userData, securityParameterIndexValue: outbound.securityParameterIndex.rawValue,
            sequenceNumber: sequenceNumber)
        header.packetTypeValue = packetType
        header.write(to: raw, at: 0)
        try DataChannel.protect(
            outbound.protection, buffer: raw, datagramStart: 0, encryptedStart: suite.headroom,
            trailerEnd: suite.headroom + plaintext.count, sequenceNumber: sequenceNumber, explicitIV: nil)
    }
    return buffer
}
