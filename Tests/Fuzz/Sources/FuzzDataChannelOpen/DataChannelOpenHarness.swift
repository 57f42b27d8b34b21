// The data channel's open path (RFC 6618 §6, RFC 4303 §3.4) with live SAs: one pair per ciphersuite and
// scope, fixed keys, made once; their replay windows live on from input to input as on the wire.
//
// Input: a selector octet (suite = low 3 bits, scope = bit 3, mode = bit 4), then
//   mode 0 (stranger's datagram): the rest is a datagram; whatever opens must lie inside it;
//   mode 1 (sealed by the peer): PType, Next Header, a bit to flip, then the payload: the peer seals it
//     and then (a) the copy with that one bit flipped never opens (b) the datagram opens to the same octets,
//     unless the inner packet itself is refused (c) it never opens twice.
import FuzzSupport
import TernDataChannel
import TernProtocol

private struct Peers {
    let mobileNodeOut: OutboundSecurityAssociation
    let homeAgentIn: InboundSecurityAssociation
}

private let spi = SecurityParameterIndex(rawValue: 0x0123_4567)

/// [suite index * 2 + scope]; nil if the suite's contexts cannot be made (then the input is skipped).
nonisolated(unsafe) private let peers: [Peers?] = longLived {
    Ciphersuite.allCases.flatMap { suite in SecurityAssociationScope.allCases.map { scope in makePeers(suite, scope) } }
}

private func makePeers(_ suite: Ciphersuite, _ scope: SecurityAssociationScope) -> Peers? {
    func key(_ count: Int, _ fill: UInt8) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0) ^ fill } }
    guard let spi,
        let mnToHa = try? DirectionalKeys(
            suite: suite, encryptionKey: key(suite.encryptionKeyLength, 0x11), integrityKey: key(suite.integrityKeyLength, 0x22)),
        let haToMn = try? DirectionalKeys(
            suite: suite, encryptionKey: key(suite.encryptionKeyLength, 0x33), integrityKey: key(suite.integrityKeyLength, 0x44))
    else { return nil }
    let association = SecurityAssociation(
        securityParameterIndex: spi, suite: suite, scope: scope, mobileNodeToHomeAgent: mnToHa,
        homeAgentToMobileNode: haToMn)
    guard let mobileNode = try? association.makeEndpoints(for: .mobileNode),
        let homeAgent = try? association.makeEndpoints(for: .homeAgent)
    else { return nil }
    return Peers(mobileNodeOut: mobileNode.outbound, homeAgentIn: homeAgent.inbound)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDataChannelOpen(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzedInput(data, size)
    let selector = input.byte()
    let suiteIndex = Int(selector & 0x07) % Ciphersuite.allCases.count
    guard let pair = peers[suiteIndex * 2 + Int(selector >> 3 & 1)] else { return 0 }
    if selector & 0x10 == 0 {
        openStrangers(pair.homeAgentIn, input.rest())
    } else {
        sealThenOpen(pair, &input)
    }
    return 0
}

private func openStrangers(_ inbound: InboundSecurityAssociation, _ octets: UnsafeRawBufferPointer) {
    var buffer = [UInt8](octets)
    buffer.withUnsafeMutableBytes { buffer in
        guard let opened = try? inbound.open(buffer, datagram: 0..<buffer.count) else { return }
        fuzzCheck(opened.payload.lowerBound >= 0 && opened.payload.upperBound <= buffer.count, "payload outside the datagram")
    }
}

private func sealThenOpen(_ pair: Peers, _ input: inout FuzzedInput) {
    let packetType = input.pick(PacketType.allCases)
    let nextHeader = input.byte()
    let flip = Int(input.uint16())
    let payload = input.rest()
    let suite = pair.mobileNodeOut.suite
    var buffer = [UInt8](repeating: 0, count: suite.headroom + payload.count + suite.tailroom)
    let payloadRange = suite.headroom..<(suite.headroom + payload.count)
    buffer.replaceSubrange(payloadRange, with: payload)
    let sealed: SealedDatagram
    do {
        sealed = try buffer.withUnsafeMutableBytes { buffer throws(DataChannelSealError) in
            try pair.mobileNodeOut.seal(packetType, nextHeader: nextHeader, in: buffer, payload: payloadRange)
        }
    } catch {
        return
    }
    let datagram = Array(buffer[sealed.range])
    let protected = packetType != .plaintext

    // (a) One flipped bit: a protected datagram no longer opens (a flip that makes it PType 0 is plaintext,
    // which carries no integrity by design, DESIGN.md).
    var tampered = datagram
    let bit = flip % (tampered.count * 8)
    tampered[bit / 8] ^= UInt8(1 << (bit % 8))
    if protected, tampered[0] >> 4 != PacketType.plaintext.rawValue {
        let result = open(pair.homeAgentIn, tampered)
        fuzzCheck(result.opened == nil, "a datagram with bit \(bit) flipped opened (\(suite))")
    }

    // (b) The datagram itself opens to the payload sealed, or only its content is refused.
    let first = open(pair.homeAgentIn, datagram)
    if let (opened, octets) = first.opened {
        fuzzCheck(octets.elementsEqual(payload), "opened payload differs from the sealed one (\(suite))")
        fuzzCheck(opened.packetType == packetType, "opened PType differs")
        if protected { fuzzCheck(opened.sequenceNumber == sealed.sequenceNumber, "opened sequence number differs") }
    } else if protected, let reason = first.reason {
        fuzzCheck(
            reason == .badNextHeader || reason == .badInnerPacket,
            "a datagram the peer sealed was dropped: \(reason) (\(suite))")
    }

    // (c) A protected datagram opens once only.
    if protected, first.opened != nil {
        fuzzCheck(open(pair.homeAgentIn, datagram).reason == .replayed, "a replayed datagram was not refused as one")
    }
}

private func open(
    _ inbound: InboundSecurityAssociation, _ datagram: [UInt8]
) -> (opened: (OpenedDatagram, [UInt8])?, reason: DataChannelDropReason?) {
    var copy = datagram
    return copy.withUnsafeMutableBytes { buffer in
        do throws(DataChannelDropReason) {
            let opened = try inbound.open(buffer, datagram: 0..<buffer.count)
            return ((opened, Array(buffer[opened.payload])), nil)
        } catch {
            return (nil, error)
        }
    }
}
