import TernProtocol
import TernRoles
import Testing

/// Nanoseconds: time is a value here, driven by the tests.
private let second: UInt64 = 1_000_000_000

private let wifi = IPAddress.v4(IPv4Address(192, 0, 2, 10))
private let lte = IPAddress.v6(IPv6Address("2001:db8:1::10")!)

private func updates(_ actions: [MobileNodeControlAction]) -> [BindingUpdate] {
    actions.compactMap {
        if case .send(let update) = $0 { return update }
        return nil
    }
}

private func acknowledgement(
    _ update: BindingUpdate, status: BindingAcknowledgementStatus = .accepted, options: [MobilityOption] = []
) -> [UInt8] {
    MobilityHeaderCodec.encode(
        .bindingAcknowledgement(
            BindingAcknowledgement(
                status: status, sequenceNumber: update.sequenceNumber, lifetimeUnits: update.lifetimeUnits,
                options: options)))
}

private func core(hasController: Bool = true, validitySeconds: Double? = nil, keepalive: Int = 0)
    -> MobileNodeControlCore
{
    MobileNodeControlCore(
        binding: .init(requestedLifetimeSeconds: 600), initialSequenceNumber: 7, keepaliveIntervalSeconds: keepalive,
        hasController: hasController, validitySeconds: validitySeconds, at: 0)
}

/// A reference to the core, so that `#expect` may call its mutating methods.
private final class Box {
    var value: MobileNodeControlCore
    init(_ value: MobileNodeControlCore) { self.value = value }
}

@Suite("Mobile Node control core (issue 14: the MN's control plane as a value)")
struct MobileNodeControlCoreTests {
    @Test("a new care-of address sends a Binding Update; its acknowledgement registers and sets the keepalive")
    func registers() {
        let mn = Box(core(keepalive: 60))
        let sent = updates(mn.value.careOfAddressChanged(to: wifi, at: 0))
        #expect(sent.count == 1)
        #expect(sent.first?.sequenceNumber == 7)
        guard let update = sent.first else { return }
        let nat = MobilityOption.natDetection(udpEncapsulationRequired: true, refreshTimeSeconds: 20)
        let actions = mn.value.received(mobilityHeader: acknowledgement(update, options: [nat]), at: second / 10)
        #expect(actions.contains(.setKeepalive(seconds: 20)), "the NAT's refresh time shortens the configured 60 s")
        #expect(actions.contains(.registered(lifetimeSeconds: 600, natKeepaliveSeconds: 20, ipv4HomeAddress: nil)))
        if case .registered = mn.value.list.state {} else { Issue.record("state \(mn.value.list.state)") }
        #expect(mn.value.list.careOfAddress == wifi)
    }

    @Test("an unanswered Binding Update is retransmitted after 1.5 s, then at growing intervals (RFC 6275 §11.8)")
    func retransmits() {
        let mn = Box(core())
        _ = mn.value.careOfAddressChanged(to: wifi, at: 0)
        var sentAt: [UInt64] = [0]
        var sequenceNumbers: [UInt16] = [7]
        var now: UInt64 = 0
        while now < 20 * second {
            now += second / 100
            for update in updates(mn.value.poll(at: now, packetsSent: 0, packetsReceived: 0)) {
                sentAt.append(now)
                sequenceNumbers.append(update.sequenceNumber)
            }
        }
        #expect(sentAt.count >= 4)
        #expect(sentAt.dropFirst().first == 3 * second / 2)
        let gaps = zip(sentAt.dropFirst(), sentAt).map { $0 - $1 }
        #expect(zip(gaps.dropFirst(), gaps).allSatisfy { $0 >= $1 }, "gaps \(gaps)")
        #expect(sequenceNumbers == (0..<sequenceNumbers.count).map { UInt16(7 + $0) }, "each one a new Sequence #")
    }

    @Test("a Mobility Header that does not decode, or a Binding Update, is ignored and said so")
    func ignoresJunk() {
        let mn = Box(core())
        #expect(mn.value.received(mobilityHeader: [1, 2, 3], at: 0) == [.ignoredSignalling(octets: 3)])
        let update = BindingUpdate(sequenceNumber: 1, flags: [.acknowledge, .homeRegistration], lifetimeUnits: 1, options: [])
        let octets = MobilityHeaderCodec.encode(.bindingUpdate(update))
        #expect(mn.value.received(mobilityHeader: octets, at: 0) == [.ignoredSignalling(octets: octets.count)])
    }

    @Test("Binding Updates the HA never answers: unresponsive, registering again, and one re-key with a HAC")
    func homeAgentLost() {
        let mn = Box(core())
        var sent = mn.value.careOfAddressChanged(to: wifi, at: 0)
        var now: UInt64 = 0
        var startedRekeys = 0
        var unresponsive = 0
        for _ in 0..<400 {
            now += second / 4
            sent = mn.value.poll(at: now, packetsSent: 0, packetsReceived: 0)
            startedRekeys += sent.filter { $0 == .startRekey }.count
            unresponsive += sent.filter { $0 == .homeAgentUnresponsive(unanswered: HomeAgentLiveness.unansweredLimit) }.count
        }
        #expect(unresponsive >= 1)
        #expect(startedRekeys == 1, "a second exchange never starts while one is in flight")
        #expect(mn.value.rekeyInFlight)

        let alone = Box(core(hasController: false))
        _ = alone.value.careOfAddressChanged(to: wifi, at: 0)
        now = 0
        for _ in 0..<400 {
            now += second / 4
            #expect(!alone.value.poll(at: now, packetsSent: 0, packetsReceived: 0).contains(.startRekey))
        }
    }

    @Test("176 asks for a re-key; success moves to a new sequence space and drops the old SA after the grace")
    func reinitialize() {
        let mn = Box(core())
        guard let first = updates(mn.value.careOfAddressChanged(to: wifi, at: 0)).first else {
            Issue.record("no Binding Update")
            return
        }
        let answer = mn.value.received(
            mobilityHeader: acknowledgement(first, status: .reinitializeSecurityAssociationWithHAC), at: second)
        #expect(answer.contains(.reinitializeSecurityAssociation))
        #expect(answer.contains(.startRekey))
        let moved = updates(mn.value.rekeySucceeded(validitySeconds: 3600, initialSequenceNumber: 40_000, at: 2 * second))
        #expect(moved.map(\.sequenceNumber) == [40_000], "a Binding Update under the new SPI, at once")
        #expect(!mn.value.rekeyInFlight)
        let grace = 2 * second + MobileNodeControlCore.previousSecurityAssociationGrace
        #expect(!mn.value.poll(at: grace - 1, packetsSent: 0, packetsReceived: 0).contains(.dropPreviousSecurityAssociation))
        #expect(mn.value.poll(at: grace, packetsSent: 0, packetsReceived: 0).contains(.dropPreviousSecurityAssociation))
        #expect(mn.value.rekeyAt == 2 * second + MobileNodeControlCore.nanoseconds(3600 * MobileNodeControlCore.rekeyFraction))
    }

    @Test("the SA's validity schedules the re-key at 80 %; a failure retries after 5 s, doubling")
    func rekeySchedule() {
        let mn = Box(core(validitySeconds: 100))
        #expect(mn.value.rekeyAt == 80 * second)
        #expect(!mn.value.poll(at: 80 * second - 1, packetsSent: 0, packetsReceived: 0).contains(.startRekey))
        #expect(mn.value.poll(at: 80 * second, packetsSent: 0, packetsReceived: 0).contains(.startRekey))
        #expect(mn.value.nextDeadline != 80 * second, "no re-key deadline while one is in flight")
        mn.value.rekeyFailed(at: 81 * second)
        #expect(mn.value.rekeyAt == 86 * second)
        _ = mn.value.poll(at: 86 * second, packetsSent: 0, packetsReceived: 0)
        mn.value.rekeyFailed(at: 87 * second)
        #expect(mn.value.rekeyAt == 97 * second)
        #expect(core(hasController: false, validitySeconds: 100).rekeyAt == nil)
    }

    @Test("suspend shows as the boot-time clock running ahead by at least 1 s; a resume sends a Binding Update")
    func resume() {
        let mn = Box(core())
        let first = mn.value.clocksRead(monotonic: 10, bootTime: 1_000)
        let halfSecond = mn.value.clocksRead(monotonic: 20 * second, bootTime: 20 * second + 1_000 + second / 2)
        let twoSeconds = mn.value.clocksRead(monotonic: 30 * second, bootTime: 30 * second + 1_000 + 2 * second)
        #expect(!first)
        #expect(!halfSecond)
        #expect(twoSeconds)
        guard let update = updates(mn.value.careOfAddressChanged(to: lte, at: 30 * second)).first else {
            Issue.record("no Binding Update")
            return
        }
        _ = mn.value.received(mobilityHeader: acknowledgement(update), at: 30 * second)
        #expect(updates(mn.value.resumed(at: 31 * second)).count == 1)
    }

    @Test("silence while data flows: the liveness check probes with a Binding Update")
    func livenessProbe() {
        let mn = Box(core())
        guard let first = updates(mn.value.careOfAddressChanged(to: wifi, at: 0)).first else {
            Issue.record("no Binding Update")
            return
        }
        _ = mn.value.received(mobilityHeader: acknowledgement(first), at: 0)
        let interval = HomeAgentLiveness.checkInterval
        #expect(updates(mn.value.poll(at: interval, packetsSent: 10, packetsReceived: 0)).isEmpty)
        #expect(updates(mn.value.poll(at: 2 * interval, packetsSent: 20, packetsReceived: 0)).count == 1)
    }

    @Test("a reload changes the keepalive at once and the lifetime from the next Binding Update")
    func reconfigure() {
        let mn = Box(core(keepalive: 30))
        #expect(mn.value.reconfigure(keepaliveIntervalSeconds: 15, requestedLifetimeSeconds: 120) == [.setKeepalive(seconds: 15)])
        #expect(updates(mn.value.careOfAddressChanged(to: wifi, at: 0)).first?.lifetimeUnits == 30)
    }
}
