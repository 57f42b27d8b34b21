import TernProtocol
import TernTestSupport
import Testing

private let second: UInt64 = 1_000_000_000
private let millisecond: UInt64 = 1_000_000

private let spi = SecurityParameterIndex(rawValue: 0x123_4567)!
private let otherSPI = SecurityParameterIndex(rawValue: 42)!
private let coa = IPv4Address(192, 0, 2, 10)
private let natOutside = IPAddress.v4(IPv4Address(203, 0, 113, 99))
private let assigned = IPv4Address(10, 77, 0, 2)

private func update(
    _ sequence: UInt16, flags: BindingUpdateFlags = [.acknowledge, .homeRegistration], lifetimeUnits: UInt16 = 150,
    options: [MobilityOption] = [.ipv4CareOfAddress(IPv4Address(192, 0, 2, 10))]
) -> BindingUpdate {
    BindingUpdate(sequenceNumber: sequence, flags: flags, lifetimeUnits: lifetimeUnits, options: options)
}

private func natOption(_ options: [MobilityOption]?) -> MobilityOption? {
    options?.first {
        if case .natDetection = $0 { return true }
        return false
    }
}

private func ipv4Ack(_ options: [MobilityOption]?) -> MobilityOption? {
    options?.first {
        if case .ipv4AddressAcknowledgement = $0 { return true }
        return false
    }
}

extension BindingCache {
    /// The common case in these tests: from the CoA itself (no NAT), no IPv4 HoA, SA healthy.
    fileprivate mutating func process(
        _ update: BindingUpdate, spi: SecurityParameterIndex = spi, from source: IPAddress = .v4(coa),
        assigned: IPv4Address? = nil, reinitialize: Bool = false, at now: UInt64
    ) -> BindingCacheDecision {
        process(
            update, spi: spi, outerSource: source, assignedIPv4HomeAddress: assigned,
            reinitializeSecurityAssociation: reinitialize, at: now)
    }
}

@Suite("Binding Cache (RFC 6275 §9.5, §10.3.1; RFC 5555 §4)")
struct BindingCacheTests {
    @Test("a new binding: BA 0 echoing the Sequence #, granted lifetime, entry keyed by SPI")
    func newBinding() {
        var cache = BindingCache(policy: .init())
        let decision = cache.process(update(1000), at: 5 * second)
        let expected = BindingCacheEntry(
            spi: spi, sequenceNumber: 1000, careOfAddress: .v4(coa), behindNAT: false, ipv4HomeAddress: nil,
            lifetimeSeconds: 600, registeredAt: 5 * second, expiresAt: 605 * second)
        #expect(decision.outcome == .registered(expected))
        #expect(
            decision.acknowledgement
                == BindingAcknowledgement(status: .accepted, sequenceNumber: 1000, lifetimeUnits: 150, options: []))
        #expect(cache.entry(for: spi) == expected)
        #expect(cache.entries == [expected])
        #expect(cache.entry(for: otherSPI) == nil)
    }

    @Test("a refresh with a greater Sequence # updates the entry")
    func refresh() {
        var cache = BindingCache(policy: .init())
        _ = cache.process(update(1000), at: 0)
        let v6 = IPv6Address("2001:db8::5")!
        let decision = cache.process(
            update(1001, options: [.alternateCareOfAddress(v6)]), from: .v6(v6), at: 400 * second)
        guard case .refreshed(let entry) = decision.outcome else {
            Issue.record("expected a refresh, got \(decision.outcome)")
            return
        }
        #expect(entry.sequenceNumber == 1001)
        #expect(entry.careOfAddress == .v6(v6))
        #expect(entry.expiresAt == 1000 * second)
        #expect(decision.acknowledgement?.status == .accepted)
    }

    @Test("equal or older Sequence # → 135 carrying the last accepted one; cache unchanged (RFC 6275 §9.5.1)")
    func outOfWindow() {
        var cache = BindingCache(policy: .init())
        _ = cache.process(update(1000), at: 0)
        let before = cache.entries
        for stale: UInt16 in [1000, 999, 1000 &+ 0x8000, 1000 &+ 0x8001] {
            let decision = cache.process(update(stale), at: second)
            #expect(decision.outcome == .rejected(.sequenceNumberOutOfWindow), "\(stale)")
            #expect(
                decision.acknowledgement
                    == BindingAcknowledgement(
                        status: .sequenceNumberOutOfWindow, sequenceNumber: 1000, lifetimeUnits: 0, options: []))
        }
        #expect(cache.entries == before)
    }

    @Test("0x0000 after 0xFFFF is greater: accepted (RFC 6275 §9.5.1 modulo 2^16)")
    func wrapAround() {
        var cache = BindingCache(policy: .init())
        _ = cache.process(update(0xFFFF), at: 0)
        let decision = cache.process(update(0x0000), at: second)
        #expect(decision.acknowledgement?.status == .accepted)
        #expect(cache.entry(for: spi)?.sequenceNumber == 0)
    }

    @Test("no entry (a new SA): any Sequence # is accepted (DESIGN.md)")
    func freshSequenceSpace() {
        var cache = BindingCache(policy: .init())
        _ = cache.process(update(5000), at: 0)
        // A different SPI starts its own space: a "smaller" number is fine there.
        #expect(cache.process(update(3), spi: otherSPI, at: second).acknowledgement?.status == .accepted)
        // An expired entry no longer constrains the sequence.
        #expect(cache.process(update(4000), at: 700 * second).outcome.isRegistered)
    }

    @Test("H clear → 129, nothing bound (DESIGN.md: H = 0 gets 129)")
    func homeRegistrationRequired() {
        var cache = BindingCache(policy: .init())
        let decision = cache.process(update(1, flags: [.acknowledge]), at: 0)
        #expect(decision.outcome == .rejected(.administrativelyProhibited))
        #expect(
            decision.acknowledgement
                == BindingAcknowledgement(
                    status: .administrativelyProhibited, sequenceNumber: 1, lifetimeUnits: 0, options: []))
        #expect(cache.entries.isEmpty)
        // Refused even without A: a refusal is always answered.
        #expect(cache.process(update(2, flags: []), at: 0).acknowledgement?.status == .administrativelyProhibited)
    }

    @Test("A clear and accepted: no BA (RFC 6275 §9.5.1)")
    func noAcknowledgeRequested() {
        var cache = BindingCache(policy: .init())
        let decision = cache.process(update(1, flags: [.homeRegistration]), at: 0)
        #expect(decision.acknowledgement == nil)
        #expect(decision.outcome.isRegistered)
    }

    @Test("the lifetime is capped by policy, in whole 4-s units (RFC 6275 §10.3.1)")
    func lifetimeCapped() {
        var cache = BindingCache(policy: .init(maximumLifetimeSeconds: 301))
        let decision = cache.process(update(1, lifetimeUnits: 1000), at: 0)
        #expect(decision.acknowledgement?.lifetimeUnits == 75)
        #expect(cache.entry(for: spi)?.lifetimeSeconds == 300)
        #expect(cache.entry(for: spi)?.expiresAt == 300 * second)
        // A shorter request is granted as asked.
        #expect(cache.process(update(2, lifetimeUnits: 10), at: 0).acknowledgement?.lifetimeUnits == 10)
    }

    @Test("lifetime 0 deregisters: entry removed, BA 0 with lifetime 0")
    func deregistration() {
        var cache = BindingCache(policy: .init())
        _ = cache.process(update(1), at: 0)
        let decision = cache.process(update(2, lifetimeUnits: 0), at: second)
        #expect(decision.outcome == .deregistered(spi))
        #expect(
            decision.acknowledgement
                == BindingAcknowledgement(status: .accepted, sequenceNumber: 2, lifetimeUnits: 0, options: []))
        #expect(cache.entries.isEmpty)
        #expect(!cache.isLive(spi, at: second))
        // Honoured even when the SA is ending, so that a clean shutdown works.
        _ = cache.process(update(3), at: 2 * second)
        #expect(
            cache.process(update(4, lifetimeUnits: 0), reinitialize: true, at: 3 * second).outcome == .deregistered(spi)
        )
    }

    @Test("reinitialize → 176 echoing the Sequence #; the existing binding stays untouched (DESIGN.md)")
    func reinitialize() {
        var cache = BindingCache(policy: .init())
        _ = cache.process(update(1), at: 0)
        let before = cache.entry(for: spi)
        let decision = cache.process(
            update(2, options: [.ipv4CareOfAddress(IPv4Address(198, 51, 100, 1))]),
            reinitialize: true, at: 100 * second)
        #expect(decision.outcome == .rejected(.reinitializeSecurityAssociationWithHAC))
        #expect(
            decision.acknowledgement
                == BindingAcknowledgement(
                    status: .reinitializeSecurityAssociationWithHAC, sequenceNumber: 2, lifetimeUnits: 0, options: []))
        #expect(cache.entry(for: spi) == before)
        #expect(cache.isLive(spi, at: 599 * second))
        #expect(!cache.isLive(spi, at: 600 * second))
        // Not even the sequence moved: the same number is still acceptable afterwards.
        #expect(cache.process(update(2), at: 101 * second).acknowledgement?.status == .accepted)
    }

    @Test("NAT Detection (31): absent when the outer source is the CoA, present with 25 s when it differs or no CoA")
    func natDetection() {
        var cache = BindingCache(policy: .init())
        let direct = cache.process(update(1), at: 0)
        #expect(natOption(direct.acknowledgement?.options) == nil)
        #expect(cache.entry(for: spi)?.behindNAT == false)

        let behind = cache.process(update(2), from: natOutside, at: second)
        #expect(
            natOption(behind.acknowledgement?.options)
                == .natDetection(udpEncapsulationRequired: false, refreshTimeSeconds: 25))
        #expect(cache.entry(for: spi)?.behindNAT == true)
        #expect(cache.entry(for: spi)?.careOfAddress == .v4(coa))

        let unnamed = cache.process(update(3, options: []), at: 2 * second)
        #expect(natOption(unnamed.acknowledgement?.options) != nil)
        #expect(cache.entry(for: spi)?.careOfAddress == nil)

        // An IPv4 CoA named over IPv6 is a difference; over an IPv4-mapped source it is the same address.
        let overV6 = cache.process(update(4), from: .v6(IPv6Address("2001:db8::1")!), at: 3 * second)
        #expect(natOption(overV6.acknowledgement?.options) != nil)
        let mapped = cache.process(update(5), from: .v6(IPv6Address(mapping: coa)), at: 4 * second)
        #expect(natOption(mapped.acknowledgement?.options) == nil)

        // The policy's keepalive goes into the option.
        var custom = BindingCache(policy: .init(natKeepaliveSeconds: 40))
        let customDecision = custom.process(update(1), from: natOutside, at: 0)
        #expect(
            natOption(customDecision.acknowledgement?.options)
                == .natDetection(udpEncapsulationRequired: false, refreshTimeSeconds: 40))
    }

    @Test("IPv4 HoA (29 → 30): 0.0.0.0 or the assigned address → 0 and bound (DESIGN.md, RFC 5555 §3.2.1)")
    func ipv4Success() {
        var cache = BindingCache(policy: .init())
        for (sequence, requested) in [(UInt16(1), IPv4Address.any), (2, assigned)] {
            let options: [MobilityOption] = [
                .ipv4CareOfAddress(coa), .ipv4HomeAddress(address: requested, prefixLength: 32, requestPrefix: false),
            ]
            let decision = cache.process(update(sequence, options: options), assigned: assigned, at: 0)
            #expect(decision.acknowledgement?.status == .accepted)
            #expect(
                ipv4Ack(decision.acknowledgement?.options)
                    == .ipv4AddressAcknowledgement(status: .success, address: assigned, prefixLength: 32))
            #expect(cache.entry(for: spi)?.ipv4HomeAddress == assigned)
        }
        // A BU without option 29 removes the IPv4 part.
        let without = cache.process(update(3), assigned: assigned, at: second)
        #expect(ipv4Ack(without.acknowledgement?.options) == nil)
        #expect(cache.entry(for: spi)?.ipv4HomeAddress == nil)
    }

    @Test("IPv4 HoA failures 130, 132, 133: the binding is accepted, the IPv4 part is not bound")
    func ipv4Failures() {
        let other = IPv4Address(10, 77, 0, 99)
        let cases: [(IPv4Address, Bool, IPv4Address?, MobilityOption)] = [
            (
                other, false, assigned,
                .ipv4AddressAcknowledgement(status: .incorrectIPv4HomeAddress, address: assigned, prefixLength: 0)
            ),
            (
                .any, false, nil,
                .ipv4AddressAcknowledgement(status: .dynamicAssignmentNotAvailable, address: .any, prefixLength: 0)
            ),
            (
                assigned, true, assigned,
                .ipv4AddressAcknowledgement(status: .prefixAllocationUnauthorized, address: assigned, prefixLength: 0)
            ),
        ]
        for (requested, prefix, assignedHere, expected) in cases {
            var cache = BindingCache(policy: .init())
            let options: [MobilityOption] = [
                .ipv4CareOfAddress(coa), .ipv4HomeAddress(address: requested, prefixLength: 32, requestPrefix: prefix),
            ]
            let decision = cache.process(update(1, options: options), assigned: assignedHere, at: 0)
            #expect(decision.acknowledgement?.status == .accepted)
            #expect(ipv4Ack(decision.acknowledgement?.options) == expected)
            #expect(cache.entry(for: spi)?.ipv4HomeAddress == nil)
            #expect(cache.isLive(spi, at: 0))
        }
    }

    @Test("Binding Refresh Advice only when the policy has one shorter than the granted lifetime (RFC 6275 §6.2.4)")
    func refreshAdvice() {
        var cache = BindingCache(policy: .init(refreshAdviceSeconds: 120))
        #expect(cache.process(update(1), at: 0).acknowledgement?.options == [.bindingRefreshAdvice(intervalUnits: 30)])
        #expect(cache.process(update(2, lifetimeUnits: 30), at: 0).acknowledgement?.options == [])
        var none = BindingCache(policy: .init())
        #expect(none.process(update(1), at: 0).acknowledgement?.options == [])
    }

    @Test("expiry: isLive, nextExpiry, expire(at:) removes and returns in SPI order")
    func expiry() {
        var cache = BindingCache(policy: .init())
        #expect(cache.nextExpiry == nil)
        _ = cache.process(update(1), at: 0)
        _ = cache.process(update(1, lifetimeUnits: 25), spi: otherSPI, at: 10 * second)
        #expect(cache.nextExpiry == 110 * second)
        #expect(cache.isLive(otherSPI, at: 110 * second - 1))
        #expect(!cache.isLive(otherSPI, at: 110 * second))
        #expect(cache.expire(at: 109 * second).isEmpty)
        #expect(cache.expire(at: 110 * second).map(\.spi) == [otherSPI])
        #expect(cache.nextExpiry == 600 * second)
        #expect(cache.expire(at: 10_000 * second).map(\.spi) == [spi])
        #expect(cache.entries.isEmpty)
        #expect(cache.nextExpiry == nil)
    }

    /// The MN and the HA through plain values: a simulated clock, a network that delays every message by
    /// 20–80 ms and loses 30 % of them (seeded, so a failure repeats), CoA changes, a suspend, and NAT.
    @Test(
        "a Binding Update List and a Binding Cache converge over a lossy network",
        arguments: [1, 2, 3, 4, 5] as [UInt64])
    func endToEnd(seed: UInt64) {
        var random = SeededRandom(seed: seed)
        var mn = BindingUpdateList(
            configuration: .init(requestedLifetimeSeconds: 120, ipv4HomeAddress: .any),
            initialSequenceNumber: UInt16.random(in: 0...UInt16.max, using: &random))
        var ha = BindingCache(policy: .init(maximumLifetimeSeconds: 100, refreshAdviceSeconds: 60))
        var toHA: [(at: UInt64, update: BindingUpdate, source: IPAddress)] = []
        var toMN: [(at: UInt64, acknowledgement: BindingAcknowledgement)] = []
        var now: UInt64 = 0
        var registrations = 0
        let addresses: [IPAddress] = [
            .v4(IPv4Address(192, 0, 2, 10)), .v6(IPv6Address("2001:db8::10")!),
            .v4(IPv4Address(198, 51, 100, 20)),
        ]
        // Every third address sits behind a NAT that rewrites the source.
        func outerSource(for coa: IPAddress?) -> IPAddress {
            coa == addresses[2] ? natOutside : coa ?? natOutside
        }
        var bestowed: IPAddress? = nil

        func perform(_ actions: [BindingUpdateListAction], lossy: Bool) {
            for action in actions {
                switch action {
                case .send(let update):
                    #expect(update.flags == [.acknowledge, .homeRegistration])
                    if lossy && Double.random(in: 0..<1, using: &random) < 0.3 { continue }
                    let delay = UInt64.random(in: 20...80, using: &random) * millisecond
                    toHA.append((now + delay, update, outerSource(for: mn.careOfAddress)))
                case .registered:
                    registrations += 1
                default:
                    break
                }
            }
        }

        let end: UInt64 = 3600 * second
        var nextEvent: UInt64 = 5 * second
        perform(mn.careOfAddressChanged(to: addresses[0], at: now), lossy: true)
        bestowed = addresses[0]
        while now < end + 300 * second || !toHA.isEmpty || !toMN.isEmpty {
            let lossy = now < end
            let candidates = [mn.nextDeadline, toHA.map(\.at).min(), toMN.map(\.at).min(), now < end ? nextEvent : nil]
            guard let next = candidates.compactMap({ $0 }).min() else { break }
            #expect(next >= now)
            now = max(now, next)
            if now == nextEvent, now < end {
                switch UInt64.random(in: 0..<10, using: &random) {
                case 0: perform(mn.resumed(at: now), lossy: lossy)
                case 1:
                    perform(mn.careOfAddressChanged(to: nil, at: now), lossy: lossy)
                    bestowed = nil
                default:
                    let address = addresses.randomElement(using: &random)!
                    perform(mn.careOfAddressChanged(to: address, at: now), lossy: lossy)
                    bestowed = address
                }
                nextEvent = now + UInt64.random(in: 1...400, using: &random) * second
            }
            // A path must come back before the end, so the MN can finish registered.
            if now >= end, bestowed == nil {
                perform(mn.careOfAddressChanged(to: addresses[1], at: now), lossy: false)
                bestowed = addresses[1]
            }
            while let index = toHA.firstIndex(where: { $0.at <= now }) {
                let (_, update, source) = toHA.remove(at: index)
                let decision = ha.process(
                    update, spi: spi, outerSource: source,
                    assignedIPv4HomeAddress: assigned, reinitializeSecurityAssociation: false, at: now)
                if let acknowledgement = decision.acknowledgement {
                    if lossy && Double.random(in: 0..<1, using: &random) < 0.3 { continue }
                    toMN.append((now + UInt64.random(in: 20...80, using: &random) * millisecond, acknowledgement))
                }
            }
            while let index = toMN.firstIndex(where: { $0.at <= now }) {
                perform(mn.received(toMN.remove(at: index).acknowledgement, at: now), lossy: lossy)
            }
            perform(mn.poll(at: now), lossy: lossy)
            _ = ha.expire(at: now)
        }

        #expect(registrations > 10)
        guard case .registered(let expiresAt) = mn.state else {
            Issue.record("MN ended in \(mn.state)")
            return
        }
        let entry = ha.entry(for: spi)
        #expect(entry != nil)
        #expect(entry?.sequenceNumber == mn.lastSentSequenceNumber)
        #expect(entry?.careOfAddress == mn.careOfAddress)
        #expect(entry?.ipv4HomeAddress == assigned)
        #expect(mn.acknowledgedIPv4HomeAddress == assigned)
        #expect(mn.grantedLifetimeSeconds == 100)
        #expect((mn.natKeepaliveSeconds != nil) == (entry?.behindNAT == true))
        // The MN never believes in a binding longer than the HA keeps it.
        if let entry { #expect(expiresAt <= entry.expiresAt) }
        #expect(ha.isLive(spi, at: now))
    }
    @Test("restore: an entry from before a restart comes back with its sequence number, unless expired or stale")
    func restore() throws {
        var cache = BindingCache(policy: .init())
        let spi = try #require(SecurityParameterIndex(rawValue: 77))
        let entry = BindingCacheEntry(
            spi: spi, sequenceNumber: 500, careOfAddress: nil, behindNAT: true, ipv4HomeAddress: nil,
            lifetimeSeconds: 600, registeredAt: 1_000, expiresAt: 601_000)
        cache.restore(entry, at: 700_000)
        #expect(cache.entry(for: spi) == nil, "already expired")
        cache.restore(entry, at: 2_000)
        #expect(cache.isLive(spi, at: 2_000))
        // RFC 6275 §9.5.1 holds across the restart: an older Sequence Number is refused with 135.
        let stale = BindingUpdate(sequenceNumber: 499, flags: [.acknowledge, .homeRegistration], lifetimeUnits: 150, options: [])
        let decision = cache.process(
            stale, spi: spi, outerSource: .v4(IPv4Address(198, 18, 0, 10)), assignedIPv4HomeAddress: nil,
            reinitializeSecurityAssociation: false, at: 3_000)
        #expect(decision.acknowledgement?.status == .sequenceNumberOutOfWindow)
        var older = entry
        older.registeredAt = 0
        older.sequenceNumber = 1
        cache.restore(older, at: 2_000)
        #expect(cache.entry(for: spi)?.sequenceNumber == 500, "a newer entry is kept")
    }

}

extension BindingCacheDecision.Outcome {
    fileprivate var isRegistered: Bool {
        if case .registered = self { return true }
        return false
    }
}
