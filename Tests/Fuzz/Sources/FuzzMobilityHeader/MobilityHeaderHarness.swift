// The Mobility Header codec (RFC 6275 §6.1) and what consumes its messages: the Home Agent's Binding
// Cache (Binding Updates) and the Mobile Node's Binding Update List (Binding Acknowledgements and Binding
// Errors). The input is a script of steps, each a length-prefixed Mobility Header and the values around
// it (SPI, outer source, time), so one input drives a whole cache through registrations, refreshes,
// deregistrations and expiry.
import FuzzSupport
import TernProtocol

private let spis = (1...4).compactMap { SecurityParameterIndex(rawValue: $0 * 0x100) }

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMobilityHeader(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzedInput(data, size)
    var cache = BindingCache(policy: .init(maximumLifetimeSeconds: 600, natKeepaliveSeconds: 25, refreshAdviceSeconds: 120))
    var list = BindingUpdateList(configuration: .init(ipv4HomeAddress: IPv4Address(10, 77, 0, 2)), initialSequenceNumber: 7)
    var now: UInt64 = 1_000_000_000
    _ = list.careOfAddressChanged(to: .v4(IPv4Address(192, 0, 2, 10)), at: now)
    while !input.isEmpty {
        now &+= UInt64(input.uint16()) * 10_000_000
        let step = input.byte()
        if step & 0xC0 == 0xC0 {
            expire(&cache, &list, at: now)
            continue
        }
        let octets = input.bytes(Int(input.uint16() % UInt16(MobilityHeaderCodec.maximumLength + 64)))
        let message: MobilityMessage
        do {
            message = try MobilityHeaderCodec.decode(octets)
        } catch {
            continue
        }
        checkRoundTrip(message)
        switch message {
        case .bindingUpdate(let update):
            let spi = spis[Int(step) % spis.count]
            let source: IPAddress = step & 0x10 == 0 ? .v4(IPv4Address(rawValue: input.uint32())) : .v6(IPv6Address(high: input.uint64(), low: input.uint64()))
            let assigned = step & 0x20 == 0 ? nil : IPv4Address(10, 77, 0, 2)
            let decision = cache.process(
                update, spi: spi, outerSource: source, assignedIPv4HomeAddress: assigned,
                reinitializeSecurityAssociation: step & 0x08 != 0, at: now)
            if let acknowledgement = decision.acknowledgement {
                checkRoundTrip(.bindingAcknowledgement(acknowledgement))
            }
            switch decision.outcome {
            case .registered(let entry), .refreshed(let entry):
                fuzzCheck(cache.entry(for: spi) == entry, "the accepted entry is not the cached one")
                fuzzCheck(entry.sequenceNumber == update.sequenceNumber, "cached sequence number differs")
                fuzzCheck(entry.expiresAt > now || entry.lifetimeSeconds == 0, "a new binding is already expired")
            case .deregistered:
                fuzzCheck(cache.entry(for: spi) == nil, "a deregistered binding is still cached")
            default:
                break
            }
        case .bindingAcknowledgement(let acknowledgement):
            _ = list.received(acknowledgement, at: now)
        case .bindingError(let error):
            _ = list.received(error, at: now)
        }
    }
    return 0
}

private func expire(_ cache: inout BindingCache, _ list: inout BindingUpdateList, at now: UInt64) {
    let expired = cache.expire(at: now)
    for entry in expired { fuzzCheck(entry.expiresAt <= now, "expired an entry that was still live") }
    for entry in cache.entries { fuzzCheck(entry.expiresAt > now, "a dead entry survived expire(at:)") }
    if let next = cache.nextExpiry { fuzzCheck(next > now, "next expiry is in the past") }
    _ = list.poll(at: now)
}

/// What the codec decodes it can encode again, to the same message.
private func checkRoundTrip(_ message: MobilityMessage) {
    guard (try? MobilityHeaderCodec.encodedLength(of: message)) != nil else { return }
    let encoded = MobilityHeaderCodec.encode(message)
    fuzzCheck(encoded.count % 8 == 0, "encoded Mobility Header is not a multiple of 8 octets")
    let decoded = try? MobilityHeaderCodec.decode(encoded)
    fuzzCheck(decoded == message, "re-encoded Mobility Header decodes differently: \(String(describing: decoded)) vs \(message)")
}
