public import TernProtocol

/// What ``MobileNodeControlCore`` asks its driver to do, in order.
public enum MobileNodeControlAction: Sendable, Hashable {
    /// Seal and send this Binding Update (PType 8) to the current Home Agent.
    case send(BindingUpdate)
    /// The data plane's idle keepalive from now on, in seconds; 0 turns it off.
    case setKeepalive(seconds: Int)
    /// Run a HAC exchange now (RFC 6618 §4.3); answer with ``MobileNodeControlCore/rekeySucceeded(validitySeconds:initialSequenceNumber:at:)``
    /// or ``MobileNodeControlCore/rekeyFailed(at:)``, or ``MobileNodeControlCore/rekeyAbandoned()``.
    case startRekey
    /// The replaced SA's grace has ended: stop opening what the HA sends under it.
    case dropPreviousSecurityAssociation
    /// An accepted Binding Acknowledgement (for the log and the handover record).
    case registered(lifetimeSeconds: UInt32, natKeepaliveSeconds: UInt32?, ipv4HomeAddress: IPv4Address?)
    case rejected(BindingAcknowledgementStatus)
    /// The HA answered 176 (DESIGN.md: REINIT_SA_WITH_HAC); a ``startRekey`` follows when a HAC is known.
    case reinitializeSecurityAssociation
    /// The registration's lifetime ran out.
    case registrationExpired
    case deregistered
    /// The HA answered none of `unanswered` Binding Updates in a row (``HomeAgentLiveness``).
    case homeAgentUnresponsive(unanswered: Int)
    /// A Mobility Header the MN does not act on (a Binding Update, or one that does not decode).
    case ignoredSignalling(octets: Int)
}

/// The Mobile Node's control plane as a value (issue 14): the Binding Update List (RFC 6275 §11), the
/// Home Agent's liveness, re-keying with the HAC (RFC 6618 §4.3) and the keepalive the NAT asks for.
/// Events and the time go in, ``MobileNodeControlAction``s come out; it reads no clock, opens nothing and
/// starts no thread. `MobileNodeController` (TernTunnel) feeds it from rtnetlink, the data plane and its
/// timers; the simulation (TernSimulationTests) feeds it from a simulated network.
///
/// Times are nanoseconds of one monotonic clock, chosen by the driver.
public struct MobileNodeControlCore: Sendable {
    /// How far the boot-time clock must run ahead of the monotonic one between two looks to count as a
    /// resume from suspend.
    public static let suspendThreshold: UInt64 = 1_000_000_000
    /// The MN re-contacts the HAC when this share of its SA's validity has passed (RFC 6618 §4.3: before
    /// the validity end; DESIGN.md).
    public static let rekeyFraction = 0.8
    /// How long the replaced SA still opens what the HA sends under it.
    public static let previousSecurityAssociationGrace: UInt64 = 60_000_000_000
    /// A failed re-key is tried again after this, doubling, at most ``rekeyRetryMaximum``.
    public static let rekeyRetryInitial: UInt64 = 5_000_000_000
    public static let rekeyRetryMaximum: UInt64 = 300_000_000_000

    /// The Binding Update List: registration state, care-of address, what the HA granted.
    public private(set) var list: BindingUpdateList
    public private(set) var liveness = HomeAgentLiveness()
    /// Whether a HAC can issue new SAs (without one, 176 and silence cannot be answered by a re-key).
    public let hasController: Bool
    public private(set) var rekeyAt: UInt64?
    public private(set) var rekeyInFlight = false
    private var rekeyRetry = MobileNodeControlCore.rekeyRetryInitial
    public private(set) var dropPreviousAt: UInt64?
    public private(set) var livenessCheckAt: UInt64?
    private var configuredKeepaliveSeconds: Int
    /// Boot time minus monotonic time at the last look; nil before the first.
    private var clockOffset: UInt64?

    /// - Parameters:
    ///   - binding: what the Binding Updates ask for (lifetime, IPv4 Home Address).
    ///   - initialSequenceNumber: a random first Sequence # (DESIGN.md).
    ///   - keepaliveIntervalSeconds: the configured idle keepalive; a NAT's refresh time may shorten it.
    ///   - hasController: a HAC can be asked for a new SA.
    ///   - validitySeconds: how long the current SA is valid from `now` (nil: no end known).
    public init(
        binding: BindingUpdateList.Configuration, initialSequenceNumber: UInt16, keepaliveIntervalSeconds: Int,
        hasController: Bool, validitySeconds: Double?, at now: UInt64
    ) {
        list = BindingUpdateList(configuration: binding, initialSequenceNumber: initialSequenceNumber)
        configuredKeepaliveSeconds = keepaliveIntervalSeconds
        self.hasController = hasController
        if hasController, let validitySeconds {
            rekeyAt = now &+ Self.nanoseconds(validitySeconds * Self.rekeyFraction)
        }
        livenessCheckAt = now &+ HomeAgentLiveness.checkInterval
    }

    /// The earliest time ``poll(at:packetsSent:packetsReceived:)`` has work; nil: only an event can
    /// change anything.
    public var nextDeadline: UInt64? {
        [list.nextDeadline, rekeyInFlight ? nil : rekeyAt, dropPreviousAt, livenessCheckAt].compactMap { $0 }.min()
    }

    // MARK: Events

    /// The usable source address toward the HA changed (nil: no path).
    public mutating func careOfAddressChanged(to address: IPAddress?, at now: UInt64) -> [MobileNodeControlAction] {
        translate(list.careOfAddressChanged(to: address, at: now), at: now)
    }

    /// Compares the two clocks: true when the boot-time clock ran ahead of the monotonic one by at least
    /// ``suspendThreshold`` since the last look (the machine was suspended). The driver then records the
    /// handover and calls ``resumed(at:)``.
    public mutating func clocksRead(monotonic: UInt64, bootTime: UInt64) -> Bool {
        let offset = bootTime &- monotonic
        defer { clockOffset = offset }
        guard let previous = clockOffset, offset > previous else { return false }
        return offset - previous >= Self.suspendThreshold
    }

    /// After a suspend: a Binding Update asks whether the HA still holds the binding.
    public mutating func resumed(at now: UInt64) -> [MobileNodeControlAction] {
        translate(list.resumed(at: now), at: now)
    }

    /// A Mobility Header the data plane opened (authenticated, non-replayed) from the HA.
    public mutating func received(mobilityHeader octets: [UInt8], at now: UInt64) -> [MobileNodeControlAction] {
        switch try? MobilityHeaderCodec.decode(octets) {
        case .bindingAcknowledgement(let acknowledgement):
            liveness.answered()
            return translate(list.received(acknowledgement, at: now), at: now)
        case .bindingError(let error):
            liveness.answered()
            return translate(list.received(error, at: now), at: now)
        case .bindingUpdate, .none:
            return [.ignoredSignalling(octets: octets.count)]
        }
    }

    /// The timers: a re-key due, a liveness check (the data plane's user-packet counters), the replaced
    /// SA's grace, and the Binding Update List's own deadlines.
    public mutating func poll(at now: UInt64, packetsSent: UInt64, packetsReceived: UInt64) -> [MobileNodeControlAction] {
        var actions: [MobileNodeControlAction] = []
        if let due = rekeyAt, now >= due { actions += startRekey() }
        if let due = livenessCheckAt, now >= due {
            let (probe, idle) = liveness.check(packetsSent: packetsSent, packetsReceived: packetsReceived)
            livenessCheckAt = now &+ (idle ? HomeAgentLiveness.idleCheckInterval : HomeAgentLiveness.checkInterval)
            if probe, case .registered = list.state { actions += translate(list.resumed(at: now), at: now) }
        }
        if let due = dropPreviousAt, now >= due {
            dropPreviousAt = nil
            actions.append(.dropPreviousSecurityAssociation)
        }
        return actions + translate(list.poll(at: now), at: now)
    }

    /// Only the Binding Update List's deadlines (retransmissions, the deregistration's timeout): for the
    /// bounded wait at a clean stop, when nothing else should start.
    public mutating func pollRegistration(at now: UInt64) -> [MobileNodeControlAction] {
        translate(list.poll(at: now), at: now)
    }

    /// A configuration reload: the keepalive at once, the lifetime from the next Binding Update on.
    public mutating func reconfigure(
        keepaliveIntervalSeconds: Int, requestedLifetimeSeconds: UInt32
    ) -> [MobileNodeControlAction] {
        configuredKeepaliveSeconds = keepaliveIntervalSeconds
        list.setRequestedLifetime(seconds: requestedLifetimeSeconds)
        return [.setKeepalive(seconds: keepalive(natKeepalive: list.natKeepaliveSeconds))]
    }

    /// The clean-shutdown Binding Update (lifetime 0).
    public mutating func deregister(at now: UInt64) -> [MobileNodeControlAction] {
        translate(list.deregister(at: now), at: now)
    }

    // MARK: Re-keying (RFC 6618 §4.3; DESIGN.md: REINIT_SA_WITH_HAC)

    /// The driver installed the new SA (it sends from now on): a Binding Update under the new SPI, in a
    /// new sequence space, moves the HA over (make before break).
    public mutating func rekeySucceeded(
        validitySeconds: Double, initialSequenceNumber: UInt16, at now: UInt64
    ) -> [MobileNodeControlAction] {
        rekeyInFlight = false
        let careOfAddress = list.careOfAddress
        list = BindingUpdateList(configuration: list.configuration, initialSequenceNumber: initialSequenceNumber)
        dropPreviousAt = now &+ Self.previousSecurityAssociationGrace
        rekeyAt = now &+ Self.nanoseconds(validitySeconds * Self.rekeyFraction)
        rekeyRetry = Self.rekeyRetryInitial
        return translate(list.careOfAddressChanged(to: careOfAddress, at: now), at: now)
    }

    /// The HAC exchange failed: tried again after a doubling delay.
    public mutating func rekeyFailed(at now: UInt64) {
        rekeyInFlight = false
        rekeyAt = now &+ rekeyRetry
        rekeyRetry = min(rekeyRetry * 2, Self.rekeyRetryMaximum)
    }

    /// The exchange could not start, or its SA could not be installed: nothing is in flight any more and
    /// the schedule stays as it was.
    public mutating func rekeyAbandoned() { rekeyInFlight = false }

    private mutating func startRekey() -> [MobileNodeControlAction] {
        guard hasController, !rekeyInFlight else { return [] }
        rekeyInFlight = true
        return [.startRekey]
    }

    // MARK: From the Binding Update List's actions to the driver's

    private mutating func translate(_ actions: [BindingUpdateListAction], at now: UInt64) -> [MobileNodeControlAction] {
        var out: [MobileNodeControlAction] = []
        var lost = false
        for action in actions {
            switch action {
            case .send(let update):
                lost = liveness.bindingUpdateSent() || lost
                out.append(.send(update))
            case .registered(let lifetime, let natKeepalive, let ipv4HomeAddress):
                out.append(.setKeepalive(seconds: keepalive(natKeepalive: natKeepalive)))
                out.append(
                    .registered(
                        lifetimeSeconds: lifetime, natKeepaliveSeconds: natKeepalive, ipv4HomeAddress: ipv4HomeAddress))
            case .rejected(let status):
                out.append(.rejected(status))
            case .reinitializeSecurityAssociation:
                out.append(.reinitializeSecurityAssociation)
                out += startRekey()
            case .registrationExpired:
                out.append(.registrationExpired)
            case .deregistered:
                out.append(.deregistered)
            }
        }
        if lost { out += homeAgentLost(at: now) }
        return out
    }

    /// The HA answered none of the last Binding Updates: it lost the binding, or the SA. Registering
    /// again at once (as after a Binding Error, status 1), and with a HAC a new SA is fetched (make before
    /// break: the current one stays until the new one is in).
    private mutating func homeAgentLost(at now: UInt64) -> [MobileNodeControlAction] {
        var out: [MobileNodeControlAction] = [.homeAgentUnresponsive(unanswered: HomeAgentLiveness.unansweredLimit)]
        if case .registered = list.state {
            let forgotten = BindingError(
                status: BindingError.unknownBindingForHomeAddress, homeAddress: .any, options: [])
            out += translate(list.received(forgotten, at: now), at: now)
        }
        return out + startRekey()
    }

    /// The keepalive the data plane keeps: the configured one, shortened to what a NAT asked for.
    private func keepalive(natKeepalive: UInt32?) -> Int {
        var keepalive = configuredKeepaliveSeconds
        if let natKeepalive, natKeepalive != BindingUpdateList.noNATKeepaliveRefreshTime, natKeepalive > 0 {
            keepalive = keepalive == 0 ? Int(natKeepalive) : min(keepalive, Int(natKeepalive))
        }
        return keepalive
    }

    public static func nanoseconds(_ seconds: Double) -> UInt64 {
        seconds <= 0 ? 0 : seconds >= 1e9 ? UInt64(1e18) : UInt64(seconds * 1e9)
    }
}
