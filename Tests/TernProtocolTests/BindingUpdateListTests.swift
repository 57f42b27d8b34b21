import TernProtocol
import Testing

/// Nanoseconds: time is a value here, driven by the tests.
private let second: UInt64 = 1_000_000_000
private let millisecond: UInt64 = 1_000_000

private let wifi = IPAddress.v4(IPv4Address(192, 0, 2, 10))
private let lte = IPAddress.v6(IPv6Address("2001:db8:1::10")!)
private let hotel = IPAddress.v4(IPv4Address(198, 51, 100, 7))
private let homeV4 = IPv4Address(10, 77, 0, 2)

private func updates(_ actions: [BindingUpdateListAction]) -> [BindingUpdate] {
    actions.compactMap {
        if case .send(let update) = $0 { return update }
        return nil
    }
}

private func accepted(
    _ update: BindingUpdate, lifetimeUnits: UInt16? = nil, options: [MobilityOption] = []
) -> BindingAcknowledgement {
    BindingAcknowledgement(
        status: .accepted, sequenceNumber: update.sequenceNumber, lifetimeUnits: lifetimeUnits ?? update.lifetimeUnits,
        options: options)
}

/// A list that has sent its first BU at `start` and had it accepted right away (600 s granted).
private func registeredList(
    configuration: BindingUpdateList.Configuration = .init(), at start: UInt64 = 0, sequence: UInt16 = 100,
    options: [MobilityOption] = []
) -> (BindingUpdateList, BindingUpdate) {
    var list = BindingUpdateList(configuration: configuration, initialSequenceNumber: sequence)
    let first = updates(list.careOfAddressChanged(to: wifi, at: start))[0]
    _ = list.received(accepted(first, options: options), at: start + 20 * millisecond)
    return (list, first)
}

@Suite("Binding Update List (RFC 6275 §11.7, RFC 5555 §4)")
struct BindingUpdateListTests {
    @Test("sequence numbers compare modulo 2^16 (RFC 6275 §9.5.1)")
    func sequenceComparison() {
        #expect(MobilitySequenceNumber.isGreater(1, than: 0))
        #expect(MobilitySequenceNumber.isGreater(0x0000, than: 0xFFFF))
        #expect(MobilitySequenceNumber.isGreater(0x7FFF, than: 0x0000))
        #expect(!MobilitySequenceNumber.isGreater(0x8000, than: 0x0000))
        #expect(!MobilitySequenceNumber.isGreater(5, than: 5))
        #expect(!MobilitySequenceNumber.isGreater(4, than: 5))
        #expect(!MobilitySequenceNumber.isGreater(0xFFFF, than: 0x0000))
        #expect(MobilitySequenceNumber.next(after: 0xFFFF) == 0)
    }

    @Test("first registration: A|H, requested lifetime, CoA option by family, IPv4 HoA option (DESIGN.md)")
    func firstBindingUpdate() {
        var list = BindingUpdateList(
            configuration: .init(requestedLifetimeSeconds: 601, ipv4HomeAddress: .any), initialSequenceNumber: 4242)
        #expect(list.state == .idle)
        #expect(list.nextDeadline == nil)
        let sent = updates(list.careOfAddressChanged(to: wifi, at: 0))
        #expect(sent.count == 1)
        #expect(
            sent.first
                == BindingUpdate(
                    sequenceNumber: 4242, flags: [.acknowledge, .homeRegistration], lifetimeUnits: 151,
                    options: [
                        .ipv4CareOfAddress(IPv4Address(192, 0, 2, 10)),
                        .ipv4HomeAddress(address: .any, prefixLength: 32, requestPrefix: false),
                    ]))
        #expect(list.state == .registering(attempt: 1))
        #expect(list.careOfAddress == wifi)

        // IPv6 CoA → Alternate CoA (3); no IPv4 HoA configured → no option 29.
        var v6 = BindingUpdateList(configuration: .init(), initialSequenceNumber: 1)
        let sentV6 = updates(v6.careOfAddressChanged(to: lte, at: 0))
        #expect(sentV6.first?.options == [.alternateCareOfAddress(IPv6Address("2001:db8:1::10")!)])
        #expect(sentV6.first?.lifetimeUnits == 150)
    }

    @Test("requested lifetime is capped at 0xFFFF units and never 0")
    func lifetimeLimits() {
        var big = BindingUpdateList(configuration: .init(requestedLifetimeSeconds: .max), initialSequenceNumber: 1)
        #expect(updates(big.careOfAddressChanged(to: wifi, at: 0)).first?.lifetimeUnits == 0xFFFF)
        var zero = BindingUpdateList(configuration: .init(requestedLifetimeSeconds: 0), initialSequenceNumber: 1)
        #expect(updates(zero.careOfAddressChanged(to: wifi, at: 0)).first?.lifetimeUnits == 1)
    }

    @Test("first registration: retransmit after 1.5 s, doubling to 32 s, forever, new Sequence # each (§11.8, §13)")
    func firstRegistrationBackoff() {
        var list = BindingUpdateList(configuration: .init(), initialSequenceNumber: 0xFFFD)
        var now: UInt64 = 0
        var sequences = updates(list.careOfAddressChanged(to: wifi, at: now)).map(\.sequenceNumber)
        var intervals: [UInt64] = []
        for _ in 0..<9 {
            guard let deadline = list.nextDeadline else { break }
            // Nothing happens early.
            #expect(list.poll(at: deadline - 1).isEmpty)
            intervals.append(deadline - now)
            now = deadline
            let sent = updates(list.poll(at: now))
            #expect(sent.count == 1)
            sequences += sent.map(\.sequenceNumber)
        }
        #expect(intervals.map { $0 / millisecond } == [1500, 3000, 6000, 12000, 24000, 32000, 32000, 32000, 32000])
        // Each BU takes the next number, wrapping 0xFFFF → 0x0000.
        #expect(sequences == [0xFFFD, 0xFFFE, 0xFFFF, 0, 1, 2, 3, 4, 5, 6])
        #expect(list.state == .registering(attempt: 10))
    }

    @Test("a refresh retransmits after 1 s, then 2, 4 … 32 s (INITIAL_BINDACK_TIMEOUT, MAX_BINDACK_TIMEOUT)")
    func refreshBackoff() {
        var (list, first) = registeredList()
        // 600 s granted; refresh at 80 %, counted from the BU's sending.
        #expect(list.nextDeadline == 480 * second)
        var now = 480 * second
        let refresh = updates(list.poll(at: now))
        #expect(refresh.count == 1)
        #expect(refresh.first?.sequenceNumber == first.sequenceNumber &+ 1)
        var intervals: [UInt64] = []
        for _ in 0..<7 {
            let deadline = list.nextDeadline!
            intervals.append((deadline - now) / millisecond)
            now = deadline
            #expect(updates(list.poll(at: now)).count == 1)
        }
        #expect(intervals == [1000, 2000, 4000, 8000, 16000, 32000, 32000])
        #expect(list.state == .registered(expiresAt: 600 * second))
    }

    @Test("a matching BA registers; one for another Sequence # is ignored (RFC 6275 §11.7.3)")
    func matchingAcknowledgement() {
        var list = BindingUpdateList(configuration: .init(ipv4HomeAddress: homeV4), initialSequenceNumber: 7)
        let first = updates(list.careOfAddressChanged(to: hotel, at: 0))[0]
        let retransmission = updates(list.poll(at: 1500 * millisecond))[0]
        #expect(retransmission.sequenceNumber == 8)

        // The BA to the first (no longer the last sent) BU does not count.
        #expect(list.received(accepted(first), at: 1600 * millisecond).isEmpty)
        #expect(list.state == .registering(attempt: 2))

        let options: [MobilityOption] = [
            .natDetection(udpEncapsulationRequired: false, refreshTimeSeconds: 0),
            .ipv4AddressAcknowledgement(status: .success, address: homeV4, prefixLength: 32),
        ]
        let actions = list.received(
            accepted(retransmission, lifetimeUnits: 75, options: options), at: 1700 * millisecond)
        #expect(actions == [.registered(grantedLifetimeSeconds: 300, natKeepaliveSeconds: 25, ipv4HomeAddress: homeV4)])
        #expect(list.state == .registered(expiresAt: 1500 * millisecond + 300 * second))
        #expect(list.grantedLifetimeSeconds == 300)
        #expect(list.natKeepaliveSeconds == 25)
        #expect(list.acknowledgedIPv4HomeAddress == homeV4)
        // No retransmission any more: the next deadline is the refresh at 80 % of 300 s.
        #expect(list.nextDeadline == 1500 * millisecond + 240 * second)
        // A duplicate BA changes nothing.
        #expect(list.received(accepted(retransmission), at: 1800 * millisecond).isEmpty)
    }

    @Test("NAT Detection refresh time: all-ones means no keepalives, an explicit value is kept (DESIGN.md)")
    func natKeepalive() {
        let (none, _) = registeredList(options: [
            .natDetection(udpEncapsulationRequired: false, refreshTimeSeconds: .max)
        ])
        #expect(none.natKeepaliveSeconds == 0)
        let (explicit, _) = registeredList(options: [
            .natDetection(udpEncapsulationRequired: true, refreshTimeSeconds: 40)
        ])
        #expect(explicit.natKeepaliveSeconds == 40)
        let (noNAT, _) = registeredList()
        #expect(noNAT.natKeepaliveSeconds == nil)
    }

    @Test("a refused IPv4 HoA is surfaced while the binding is accepted (RFC 5555 §3.2.1)")
    func ipv4Refused() {
        var list = BindingUpdateList(configuration: .init(ipv4HomeAddress: homeV4), initialSequenceNumber: 1)
        let first = updates(list.careOfAddressChanged(to: wifi, at: 0))[0]
        let option = MobilityOption.ipv4AddressAcknowledgement(
            status: .incorrectIPv4HomeAddress, address: IPv4Address(10, 77, 0, 9), prefixLength: 0)
        let actions = list.received(accepted(first, options: [option]), at: 10 * millisecond)
        #expect(actions == [.registered(grantedLifetimeSeconds: 600, natKeepaliveSeconds: nil, ipv4HomeAddress: nil)])
        #expect(list.acknowledgedIPv4HomeAddress == nil)
        #expect(list.ipv4HomeAddressStatus == .incorrectIPv4HomeAddress)
    }

    @Test("an address the HA assigned is asked for again in refreshes (RFC 5555 §3.1.1)")
    func assignedAddressKept() {
        let assigned = IPv4Address(10, 77, 0, 30)
        var (list, _) = registeredList(
            configuration: .init(ipv4HomeAddress: .any),
            options: [.ipv4AddressAcknowledgement(status: .success, address: assigned, prefixLength: 32)])
        let refresh = updates(list.poll(at: 480 * second))
        #expect(
            refresh.first?.options.last == .ipv4HomeAddress(address: assigned, prefixLength: 32, requestPrefix: false))
    }

    @Test("status 135: resynchronise to the HA's last accepted Sequence # + 1 and send at once (RFC 6275 §11.7.3)")
    func sequenceResync() {
        var list = BindingUpdateList(configuration: .init(), initialSequenceNumber: 10)
        let first = updates(list.careOfAddressChanged(to: wifi, at: 0))[0]
        let outOfWindow = BindingAcknowledgement(
            status: .sequenceNumberOutOfWindow, sequenceNumber: 0x4000, lifetimeUnits: 0, options: [])
        let actions = list.received(outOfWindow, at: 30 * millisecond)
        #expect(updates(actions).map(\.sequenceNumber) == [0x4001])
        #expect(!actions.contains { if case .rejected = $0 { true } else { false } })
        // A second 135 in a row waits for the retransmission timer instead of sending at once.
        let again = BindingAcknowledgement(
            status: .sequenceNumberOutOfWindow, sequenceNumber: 0x4100, lifetimeUnits: 0, options: [])
        #expect(list.received(again, at: 40 * millisecond).isEmpty)
        #expect(updates(list.poll(at: 3100 * millisecond)).map(\.sequenceNumber) == [0x4101])
        _ = first
    }

    @Test("a 135 naming an older number than our last BU is stale and ignored")
    func staleResync() {
        var list = BindingUpdateList(configuration: .init(), initialSequenceNumber: 500)
        _ = list.careOfAddressChanged(to: wifi, at: 0)
        let stale = BindingAcknowledgement(
            status: .sequenceNumberOutOfWindow, sequenceNumber: 499, lifetimeUnits: 0, options: [])
        #expect(list.received(stale, at: 10 * millisecond).isEmpty)
    }

    @Test("status 176 asks for the HAC exchange and leaves the binding until its lifetime (DESIGN.md)")
    func reinitializeSecurityAssociation() {
        var (list, _) = registeredList()
        let refresh = updates(list.poll(at: 480 * second))[0]
        let reinit = BindingAcknowledgement(
            status: .reinitializeSecurityAssociationWithHAC, sequenceNumber: refresh.sequenceNumber, lifetimeUnits: 0,
            options: [])
        #expect(list.received(reinit, at: 480 * second + 10 * millisecond) == [.reinitializeSecurityAssociation])
        #expect(list.state == .registered(expiresAt: 600 * second))
        // The old binding still runs out on its own.
        var now = 480 * second
        var expired = false
        while let deadline = list.nextDeadline, deadline <= 600 * second {
            now = deadline
            expired = list.poll(at: now).contains(.registrationExpired) || expired
        }
        #expect(expired)
    }

    @Test("a refusal is surfaced and retried with backoff, capped at 32 s: a misconfigured HA is not hammered")
    func rejectionBackoff() {
        var list = BindingUpdateList(configuration: .init(), initialSequenceNumber: 1)
        var now: UInt64 = 0
        var sent = updates(list.careOfAddressChanged(to: wifi, at: now))
        var times: [UInt64] = [now]
        for _ in 0..<10 {
            let refusal = BindingAcknowledgement(
                status: .administrativelyProhibited, sequenceNumber: sent[0].sequenceNumber, lifetimeUnits: 0,
                options: [])
            #expect(list.received(refusal, at: now + 5 * millisecond) == [.rejected(.administrativelyProhibited)])
            #expect(list.state == .failed(.administrativelyProhibited))
            now = list.nextDeadline!
            sent = updates(list.poll(at: now))
            #expect(sent.count == 1)
            times.append(now)
        }
        let gaps = zip(times.dropFirst(), times).map { ($0 - $1) / millisecond }
        #expect(gaps == [1500, 3000, 6000, 12000, 24000, 32000, 32000, 32000, 32000, 32000])
        // Then an acceptance clears the failure.
        _ = list.received(accepted(sent[0]), at: now + 5 * millisecond)
        #expect(list.state == .registered(expiresAt: now + 600 * second))
    }

    @Test("refresh at a Binding Refresh Advice interval shorter than 80 % of the lifetime (RFC 6275 §6.2.4)")
    func refreshAdvice() {
        var (list, _) = registeredList(options: [.bindingRefreshAdvice(intervalUnits: 30)])
        #expect(list.nextDeadline == 120 * second)
        #expect(updates(list.poll(at: 120 * second - 1)).isEmpty)
        #expect(updates(list.poll(at: 120 * second)).count == 1)
        // A longer advice than 80 % of the lifetime does not postpone the refresh.
        let (late, _) = registeredList(options: [.bindingRefreshAdvice(intervalUnits: 149)])
        #expect(late.nextDeadline == 480 * second)
    }

    @Test("an accepted refresh emits .registered again and moves the expiry")
    func refreshAccepted() {
        var (list, _) = registeredList()
        let refresh = updates(list.poll(at: 480 * second))[0]
        let actions = list.received(accepted(refresh), at: 480 * second + 30 * millisecond)
        #expect(actions == [.registered(grantedLifetimeSeconds: 600, natKeepaliveSeconds: nil, ipv4HomeAddress: nil)])
        #expect(list.state == .registered(expiresAt: 1080 * second))
        #expect(list.nextDeadline == 960 * second)
    }

    @Test("granted lifetime 0 for a non-zero request: registered, refreshed at once at the rate limit")
    func zeroGrant() {
        var list = BindingUpdateList(configuration: .init(), initialSequenceNumber: 1)
        var now: UInt64 = 0
        var sent = updates(list.careOfAddressChanged(to: wifi, at: now))
        var sendTimes: [UInt64] = [0]
        for _ in 0..<5 {
            now += 10 * millisecond
            let actions = list.received(accepted(sent[0], lifetimeUnits: 0), at: now)
            #expect(
                actions.first == .registered(grantedLifetimeSeconds: 0, natKeepaliveSeconds: nil, ipv4HomeAddress: nil))
            sent = updates(actions)
            if sent.isEmpty {
                now = list.nextDeadline!
                sent = updates(list.poll(at: now))
            }
            #expect(sent.count == 1)
            sendTimes.append(now)
        }
        // Never more than 3 in any second.
        for (index, time) in sendTimes.enumerated() where index >= 3 {
            #expect(time >= sendTimes[index - 3] + second)
        }
    }

    @Test("MAX_UPDATE_RATE: 5 CoA changes in 100 ms give at most 3 BUs that second, the newest CoA last (§11.8)")
    func rateLimit() {
        var (list, _) = registeredList(at: 0)
        let addresses: [IPAddress] = (1...5).map { .v4(IPv4Address(203, 0, 113, UInt8($0))) }
        var sent: [(UInt64, BindingUpdate)] = []
        var now = 10 * second
        for address in addresses {
            sent += updates(list.careOfAddressChanged(to: address, at: now)).map { (now, $0) }
            now += 20 * millisecond
        }
        // Let the timers run for a while with no BA coming back.
        while let deadline = list.nextDeadline, deadline < 12 * second {
            now = deadline
            sent += updates(list.poll(at: now)).map { (now, $0) }
        }
        let firstSecond = sent.filter { $0.0 < 11 * second }
        #expect(firstSecond.count == 3)
        // The deferred send carries the newest CoA, and at most 3 went out in any second.
        let deferred = sent.first { $0.0 >= 11 * second }
        #expect(deferred?.0 == 11 * second)
        #expect(deferred?.1.options.first == .ipv4CareOfAddress(IPv4Address(203, 0, 113, 5)))
        for (index, entry) in sent.enumerated() where index >= 3 {
            #expect(entry.0 >= sent[index - 3].0 + second)
        }
        // No BU ever named the CoAs that were superseded while held back.
        #expect(!sent.contains { $0.1.options.first == .ipv4CareOfAddress(IPv4Address(203, 0, 113, 4)) })
    }

    @Test("CoA nil stops all sending until a CoA comes back")
    func noPath() {
        var list = BindingUpdateList(configuration: .init(), initialSequenceNumber: 1)
        _ = list.careOfAddressChanged(to: wifi, at: 0)
        #expect(list.careOfAddressChanged(to: nil, at: 100 * millisecond).isEmpty)
        #expect(list.state == .idle)
        #expect(list.nextDeadline == nil)
        for step in 1...100 { #expect(list.poll(at: UInt64(step) * 10 * second).isEmpty) }
        let back = updates(list.careOfAddressChanged(to: lte, at: 1001 * second))
        #expect(back.count == 1)
        #expect(back.first?.sequenceNumber == 2)
        #expect(back.first?.options == [.alternateCareOfAddress(IPv6Address("2001:db8:1::10")!)])
    }

    @Test("a CoA change while registered sends at once and keeps the registration")
    func roamWhileRegistered() {
        var (list, first) = registeredList()
        let sent = updates(list.careOfAddressChanged(to: lte, at: 100 * second))
        #expect(sent.count == 1)
        #expect(sent.first?.sequenceNumber == first.sequenceNumber &+ 1)
        #expect(list.state == .registered(expiresAt: 600 * second))
        // The same address again is no change.
        #expect(list.careOfAddressChanged(to: lte, at: 100 * second + 1).isEmpty)
        // Its retransmission uses INITIAL_BINDACK_TIMEOUT (a binding exists).
        #expect(list.nextDeadline == 101 * second)
    }

    @Test("a freeze past the lifetime: poll reports the expiry and registers again at once")
    func freeze() {
        var (list, first) = registeredList()
        let actions = list.poll(at: 5000 * second)
        #expect(actions.first == .registrationExpired)
        let sent = updates(actions)
        #expect(sent.count == 1)
        #expect(sent.first?.sequenceNumber == first.sequenceNumber &+ 1)
        #expect(list.state == .registering(attempt: 1))
        #expect(list.grantedLifetimeSeconds == nil)
        // A first registration again: 1.5 s timeout.
        #expect(list.nextDeadline == 5000 * second + 1500 * millisecond)
    }

    @Test("resumed: a Binding Update at once, expiry reported if the suspend outlived the binding")
    func resumed() {
        var (list, _) = registeredList()
        let soon = list.resumed(at: 60 * second)
        #expect(updates(soon).count == 1)
        #expect(!soon.contains(.registrationExpired))
        var (late, _) = registeredList()
        let after = late.resumed(at: 7200 * second)
        #expect(after.first == .registrationExpired)
        #expect(updates(after).count == 1)
    }

    @Test("deregistration: lifetime 0, no option 29, finished by its BA (RFC 6275 §11.7.1)")
    func deregistrationAcknowledged() {
        var (list, _) = registeredList(configuration: .init(ipv4HomeAddress: homeV4))
        let sent = updates(list.deregister(at: 100 * second))
        #expect(sent.count == 1)
        #expect(sent.first?.lifetimeUnits == 0)
        #expect(sent.first?.options == [.ipv4CareOfAddress(IPv4Address(192, 0, 2, 10))])
        #expect(list.state == .deregistering)
        let answer = BindingAcknowledgement(
            status: .accepted, sequenceNumber: sent[0].sequenceNumber, lifetimeUnits: 0, options: [])
        #expect(list.received(answer, at: 100 * second + 5 * millisecond) == [.deregistered])
        #expect(list.state == .deregistered)
        #expect(list.nextDeadline == nil)
        #expect(list.poll(at: 10_000 * second).isEmpty)
        #expect(list.careOfAddressChanged(to: lte, at: 10_001 * second).isEmpty)
    }

    @Test("deregistration without an answer: one retransmission after 1.5 s, done 1.5 s later")
    func deregistrationTimeout() {
        var (list, _) = registeredList()
        let first = updates(list.deregister(at: 100 * second))
        #expect(list.nextDeadline == 100 * second + 1500 * millisecond)
        let retransmission = updates(list.poll(at: 100 * second + 1500 * millisecond))
        #expect(retransmission.count == 1)
        #expect(retransmission.first?.sequenceNumber == first[0].sequenceNumber &+ 1)
        #expect(retransmission.first?.lifetimeUnits == 0)
        #expect(list.nextDeadline == 103 * second)
        #expect(list.poll(at: 103 * second) == [.deregistered])
        #expect(list.nextDeadline == nil)
    }

    @Test("deregistration with no path finishes at once")
    func deregistrationWithoutPath() {
        var list = BindingUpdateList(configuration: .init(), initialSequenceNumber: 1)
        #expect(list.deregister(at: 0) == [.deregistered])
    }

    @Test("Binding Error status 1: the HA lost the binding, register again (RFC 6275 §11.3.6)")
    func bindingError() {
        var (list, _) = registeredList()
        let error = BindingError(status: 1, homeAddress: .any, options: [])
        #expect(updates(list.received(error, at: 50 * second)).count == 1)
        #expect(list.state == .registering(attempt: 1))
        let unknownType = BindingError(status: 2, homeAddress: .any, options: [])
        #expect(list.received(unknownType, at: 51 * second).isEmpty)
    }
}
