// The Mobile Node's side of binding management: when to send a Binding Update to the Home Agent, what it
// says, and what a Binding Acknowledgement means (RFC 6275 §11.7, RFC 5555 §4). A value type: events and
// the time go in, actions come out; the daemon owns the socket, the clock and the randomness.

/// Nanoseconds of the monotonic clock the daemon passes in (see `KeepaliveSchedule`).
private let nanosecondsPerSecond: UInt64 = 1_000_000_000

/// `time + duration`, pinned at the end of time instead of trapping: a deadline that far away never fires.
@inline(__always)
func saturatingDeadline(_ time: UInt64, plus duration: UInt64) -> UInt64 {
    let (sum, overflow) = time.addingReportingOverflow(duration)
    return overflow ? .max : sum
}

/// What the ``BindingUpdateList`` asks the daemon to do, or tells it.
public enum BindingUpdateListAction: Sendable, Hashable {
    /// Send this Binding Update to the Home Agent (inside PType 8, under the current SA).
    case send(BindingUpdate)
    /// A Binding Acknowledgement accepted the registration (the first one and every refresh).
    /// `natKeepaliveSeconds`: nil when the HA saw no NAT, 0 when it saw one that needs no keepalives.
    /// `ipv4HomeAddress`: the IPv4 Home Address the HA acknowledged; nil when none was asked for or the
    /// HA refused it (``BindingUpdateList/ipv4HomeAddressStatus`` says why).
    case registered(grantedLifetimeSeconds: UInt32, natKeepaliveSeconds: UInt32?, ipv4HomeAddress: IPv4Address?)
    /// The HA refused the Binding Update with a final status (not 135, which is resynchronised, nor 176).
    /// The list keeps retrying with backoff.
    case rejected(BindingAcknowledgementStatus)
    /// Status 176 (DESIGN.md): run the HAC exchange now and register under the new SA. The current binding
    /// stays until its own lifetime ends.
    case reinitializeSecurityAssociation
    /// The deregistration finished: its Binding Acknowledgement arrived, or it timed out.
    case deregistered
    /// The granted lifetime ran out without an accepted refresh; the HA no longer holds the binding.
    case registrationExpired
}

/// Where the home registration stands, for the daemon's decisions and for status output.
public enum RegistrationState: Sendable, Hashable {
    /// No care-of address and no live binding: nothing can be sent.
    case idle
    /// Binding Updates are out and no accepted binding exists; `attempt` counts the transmissions since the
    /// last new Binding Update (1 = the first, 2 = the first retransmission, …; 0 = the first is held back
    /// by the rate limit).
    case registering(attempt: Int)
    /// The HA holds the binding until `expiresAt` (a refresh may be in flight).
    case registered(expiresAt: UInt64)
    /// The last Binding Acknowledgement refused the registration; retrying with backoff.
    case failed(BindingAcknowledgementStatus)
    /// The lifetime-0 Binding Update is out.
    case deregistering
    /// Finished; this list sends nothing more.
    case deregistered
}

/// The Mobile Node's Binding Update List (RFC 6275 §11.1) for Tern's one entry: the home registration with
/// one Home Agent, under one SA.
///
/// Feed it events (``careOfAddressChanged(to:at:)``, ``received(_:at:)-(BindingAcknowledgement,_)``,
/// ``resumed(at:)``, ``deregister(at:)``) and call ``poll(at:)`` at or after ``nextDeadline``; perform the
/// actions each returns, in order. Time is a monotonic clock in nanoseconds, passed in.
///
/// Invariants the RFC asks for, kept here so the daemon cannot get them wrong:
/// - every Binding Update sent, new or retransmitted, takes the next Sequence # (RFC 6275 §11.7.1);
/// - a Binding Acknowledgement counts only if it answers the last Binding Update sent (§11.7.3);
/// - never more than ``maxUpdateRate`` Binding Updates in any ``updateRateWindow`` (§11.8, §12); a send
///   the limit holds back is deferred, and when it goes out it carries the newest state only;
/// - retransmissions back off exponentially to ``maxBindackTimeout`` and never stop while there is a path
///   (§11.8: the MN must keep trying), so a refusing or absent HA sees at most one BU every 32 s.
///
/// Not thread-safe (a value): one owner, as for ``ReplayWindow``.
public struct BindingUpdateList: Sendable {
    // MARK: Constants (RFC 6275 §12–13, DESIGN.md)

    /// `InitialBindackTimeoutFirstReg` (RFC 6275 §13): the first wait when the HA holds no binding for us,
    /// longer because the HA may run Duplicate Address Detection first.
    public static let initialBindackTimeoutFirstReg: UInt64 = 1_500_000_000
    /// `INITIAL_BINDACK_TIMEOUT` (RFC 6275 §12): the first wait for a refresh or an update of a binding.
    public static let initialBindackTimeout: UInt64 = 1_000_000_000
    /// `MAX_BINDACK_TIMEOUT` (RFC 6275 §12): the cap of the doubling wait between retransmissions.
    public static let maxBindackTimeout: UInt64 = 32_000_000_000
    /// `MAX_UPDATE_RATE` (RFC 6275 §12): Binding Updates allowed in one ``updateRateWindow``.
    public static let maxUpdateRate = 3
    /// The window `MAX_UPDATE_RATE` counts in: one second (RFC 6275 §12 "per second").
    public static let updateRateWindow: UInt64 = 1_000_000_000
    /// How long a deregistration waits for its Binding Acknowledgement before retransmitting once, and
    /// then before giving up (Tern's choice: the first-registration timeout; shutdown must not hang).
    public static let deregistrationTimeout: UInt64 = 1_500_000_000
    /// Deregistration Binding Updates sent at most: the first and one retransmission.
    public static let deregistrationTransmissions = 2
    /// The refresh goes out at this percentage of the granted lifetime (RFC 6275 §11.7.1 asks only for a
    /// refresh before expiry; 80 % leaves room for several retransmissions even with short lifetimes).
    public static let refreshPercent: UInt64 = 80
    /// The largest lifetime the 16-bit field in 4-second units can ask for (RFC 6275 §6.1.7).
    public static let maximumLifetimeSeconds: UInt32 = 0xFFFF * 4
    /// NAT keepalive interval when the NAT Detection option's Refresh Time is 0 (DESIGN.md: 25 s, not
    /// RFC 5555's 110 s, which many NATs outlive).
    public static let defaultNATKeepaliveSeconds: UInt32 = 25
    /// The NAT Detection Refresh Time that means no keepalives are needed (DESIGN.md).
    public static let noNATKeepaliveRefreshTime: UInt32 = .max

    // MARK: Configuration

    /// What the Mobile Node asks for in every Binding Update.
    public struct Configuration: Sendable, Hashable {
        /// Requested binding lifetime; sent rounded up to 4-second units, at most ``maximumLifetimeSeconds``
        /// and at least one unit (a lifetime of 0 would be a deregistration).
        public var requestedLifetimeSeconds: UInt32
        /// The IPv4 Home Address to ask for with option 29 (RFC 5555 §3.1.1): nil asks for none,
        /// `IPv4Address.any` asks the HA to assign one.
        public var ipv4HomeAddress: IPv4Address?

        public init(requestedLifetimeSeconds: UInt32 = 600, ipv4HomeAddress: IPv4Address? = nil) {
            self.requestedLifetimeSeconds = requestedLifetimeSeconds
            self.ipv4HomeAddress = ipv4HomeAddress
        }

        /// The Lifetime field: seconds / 4 rounded up, within 1 ... 0xFFFF.
        var lifetimeUnits: UInt16 {
            let seconds = min(requestedLifetimeSeconds, BindingUpdateList.maximumLifetimeSeconds)
            return UInt16(max((seconds + 3) / 4, 1))
        }
    }

    /// What the next transmission is for.
    private enum Pending: Sendable, Hashable {
        case none
        /// The last Binding Update again (a new Sequence #), after a timeout.
        case retransmission
        /// A new Binding Update carrying changed state (CoA, resync, refresh, resume).
        case update
    }

    private enum Phase: Sendable, Hashable {
        case active
        case deregistering
        case deregistered
    }

    public private(set) var configuration: Configuration

    /// The current usable source address toward the HA.
    public private(set) var careOfAddress: IPAddress?
    /// The lifetime the HA granted in its last accepted Binding Acknowledgement.
    public private(set) var grantedLifetimeSeconds: UInt32?
    /// NAT keepalive interval from the last accepted Binding Acknowledgement's NAT Detection option: nil when
    /// the HA saw no NAT, 0 when it saw one but no keepalives are needed, else seconds (0 in the option is
    /// read as ``defaultNATKeepaliveSeconds``).
    public private(set) var natKeepaliveSeconds: UInt32?
    /// The IPv4 Home Address the HA acknowledged with success (RFC 5555 §3.2.1).
    public private(set) var acknowledgedIPv4HomeAddress: IPv4Address?
    /// The status of the last IPv4 Address Acknowledgement option; nil when the last accepted Binding
    /// Acknowledgement carried none.
    public private(set) var ipv4HomeAddressStatus: IPv4AddressAcknowledgementStatus?
    /// When the HA's binding runs out, as far as the MN can tell (counted from the sending of the Binding
    /// Update that was accepted, so never later than the HA's own count); nil when there is none.
    public private(set) var bindingExpiresAt: UInt64?
    /// The Sequence # of the last Binding Update sent; nil before the first.
    public private(set) var lastSentSequenceNumber: UInt16?

    private var phase = Phase.active
    private var nextSequenceNumber: UInt16
    private var pending = Pending.none
    /// When the last Binding Update times out; nil when none is outstanding.
    private var retransmitAt: UInt64?
    /// The last Binding Update sent has not been answered yet: only its Binding Acknowledgement counts.
    private var awaitingAcknowledgement = false
    private var currentTimeout: UInt64
    private var attempt = 0
    private var refreshAt: UInt64?
    private var lastSentAt: UInt64 = 0
    /// Send times of the last ``maxUpdateRate`` Binding Updates, oldest first.
    private var recentSends: [UInt64] = []
    /// The refusal of the last answered Binding Update, until one is accepted.
    private var lastRefusal: BindingAcknowledgementStatus?
    /// One immediate resend per run of 135s; later ones wait for the retransmission timer, so an HA that
    /// keeps answering 135 cannot make the MN send at the full rate.
    private var resynchronisedSinceLastAcceptance = false
    private var deregistrationTransmissionsSent = 0

    /// - Parameters:
    ///   - initialSequenceNumber: the first Binding Update's Sequence #; pass a random value (DESIGN.md).
    public init(configuration: Configuration, initialSequenceNumber: UInt16) {
        self.configuration = configuration
        nextSequenceNumber = initialSequenceNumber
        currentTimeout = Self.initialBindackTimeoutFirstReg
    }

    /// Asks for `seconds` in the Binding Updates from now on (configuration reload): the next refresh
    /// carries it; the binding the HA granted meanwhile runs as granted.
    public mutating func setRequestedLifetime(seconds: UInt32) {
        configuration.requestedLifetimeSeconds = seconds
    }

    // MARK: State

    public var state: RegistrationState {
        switch phase {
        case .deregistering: return .deregistering
        case .deregistered: return .deregistered
        case .active: break
        }
        if let refusal = lastRefusal {
            // 176 leaves a live binding in place: it is a request, not a failure.
            if refusal == .reinitializeSecurityAssociationWithHAC, let bindingExpiresAt {
                return .registered(expiresAt: bindingExpiresAt)
            }
            return careOfAddress == nil && bindingExpiresAt == nil ? .idle : .failed(refusal)
        }
        if let bindingExpiresAt { return .registered(expiresAt: bindingExpiresAt) }
        if careOfAddress == nil { return .idle }
        return .registering(attempt: attempt)
    }

    /// The earliest time ``poll(at:)`` has work: a retransmission, a deferred send, a refresh, the binding's
    /// expiry or the deregistration timeout. nil when only an event can change anything.
    public var nextDeadline: UInt64? {
        var deadlines: [UInt64] = []
        if let retransmitAt { deadlines.append(retransmitAt) }
        if pending != .none, careOfAddress != nil, phase != .deregistered { deadlines.append(earliestSendTime) }
        if phase == .active {
            if let refreshAt { deadlines.append(refreshAt) }
            if let bindingExpiresAt { deadlines.append(bindingExpiresAt) }
        }
        return deadlines.min()
    }

    // MARK: Events

    /// The usable source address toward the HA changed (nil: no usable path). A new address is named in a
    /// Binding Update at once, subject to the rate limit: option 32 for IPv4, option 3 for IPv6 (DESIGN.md:
    /// Binding Update). A live binding is kept meanwhile: the HA already follows authenticated packets.
    /// nil stops all sending, retransmissions included, until an address comes back.
    public mutating func careOfAddressChanged(to address: IPAddress?, at now: UInt64) -> [BindingUpdateListAction] {
        guard phase != .deregistered, address != careOfAddress else { return [] }
        careOfAddress = address
        guard address != nil else {
            retransmitAt = nil
            if phase == .deregistering {
                // No path to say goodbye on: the HA's binding will run out by itself.
                phase = .deregistered
                pending = .none
                return [.deregistered]
            }
            // Remember that state changed, to be sent when a path exists again.
            pending = .update
            return []
        }
        var actions = expireIfDue(at: now)
        if phase == .active {
            beginUpdate()
        } else if pending == .none && retransmitAt == nil
            && deregistrationTransmissionsSent < Self.deregistrationTransmissions
        {
            pending = .update
        }
        actions += flush(at: now)
        return actions
    }

    /// A Binding Acknowledgement arrived from the HA (authenticated under the SA).
    /// Ignored unless it answers the last Binding Update sent (RFC 6275 §11.7.3), except for status 135,
    /// which carries the HA's last accepted Sequence # instead (§9.5.1) and is taken when that number is
    /// not older than ours.
    public mutating func received(_ acknowledgement: BindingAcknowledgement, at now: UInt64)
        -> [BindingUpdateListAction]
    {
        guard phase != .deregistered, awaitingAcknowledgement, let lastSent = lastSentSequenceNumber else { return [] }
        if acknowledgement.status == .sequenceNumberOutOfWindow {
            guard !MobilitySequenceNumber.isGreater(lastSent, than: acknowledgement.sequenceNumber) else { return [] }
            awaitingAcknowledgement = false
            return resynchronise(to: acknowledgement.sequenceNumber, at: now)
        }
        guard acknowledgement.sequenceNumber == lastSent else { return [] }
        awaitingAcknowledgement = false

        if phase == .deregistering {
            phase = .deregistered
            pending = .none
            retransmitAt = nil
            return [.deregistered]
        }
        if acknowledgement.status.isAccepted {
            // The outstanding Binding Update is answered: no more retransmissions of it. A newer update
            // that the rate limit holds back stays pending.
            retransmitAt = nil
            if pending == .retransmission { pending = .none }
            return accept(acknowledgement, at: now)
        }
        // A refusal: the retransmission timer keeps running, doubling to the cap, so a misconfigured HA
        // sees fewer and fewer Binding Updates (at most one every MAX_BINDACK_TIMEOUT).
        lastRefusal = acknowledgement.status
        if acknowledgement.status == .reinitializeSecurityAssociationWithHAC {
            return [.reinitializeSecurityAssociation]
        }
        return [.rejected(acknowledgement.status)]
    }

    /// A Binding Error arrived (RFC 6275 §11.3.6). Status 1 says the HA holds no binding for us: register
    /// again now (the HA lost its state, e.g. a restart without its database). Status 2 says the HA does
    /// not know the message type; nothing better can be done than the retransmission backoff already does.
    public mutating func received(_ error: BindingError, at now: UInt64) -> [BindingUpdateListAction] {
        guard phase == .active, error.status == 1 else { return [] }
        var actions = expireIfDue(at: now)
        bindingExpiresAt = nil
        refreshAt = nil
        beginUpdate()
        actions += flush(at: now)
        return actions
    }

    /// The machine resumed from suspend (the OS layer saw CLOCK_BOOTTIME jump ahead of CLOCK_MONOTONIC):
    /// the network may have changed underneath and the binding may have run out at the HA. Register now.
    public mutating func resumed(at now: UInt64) -> [BindingUpdateListAction] {
        guard phase == .active else { return [] }
        var actions = expireIfDue(at: now)
        beginUpdate()
        actions += flush(at: now)
        return actions
    }

    /// Clean shutdown: one Binding Update with lifetime 0 (RFC 6275 §11.7.1), retransmitted at most once
    /// after ``deregistrationTimeout``; ``BindingUpdateListAction/deregistered`` comes when its Binding
    /// Acknowledgement arrives or the second timeout passes. Without a care-of address it comes at once.
    public mutating func deregister(at now: UInt64) -> [BindingUpdateListAction] {
        guard phase == .active else { return [] }
        refreshAt = nil
        bindingExpiresAt = nil
        retransmitAt = nil
        // A late answer to the last registration BU must not be taken for the deregistration's.
        awaitingAcknowledgement = false
        guard careOfAddress != nil else {
            phase = .deregistered
            pending = .none
            return [.deregistered]
        }
        phase = .deregistering
        pending = .update
        currentTimeout = Self.deregistrationTimeout
        return flush(at: now)
    }

    /// Runs the timers: expiry, refresh, retransmission, deferred sends, deregistration timeout. Safe to
    /// call at any time; it does nothing early.
    public mutating func poll(at now: UInt64) -> [BindingUpdateListAction] {
        var actions = expireIfDue(at: now)
        if let retransmitAt, now >= retransmitAt {
            self.retransmitAt = nil
            switch phase {
            case .deregistered:
                break
            case .deregistering:
                if deregistrationTransmissionsSent >= Self.deregistrationTransmissions {
                    phase = .deregistered
                    pending = .none
                    return actions + [.deregistered]
                }
                pending = .retransmission
            case .active:
                currentTimeout = min(currentTimeout * 2, Self.maxBindackTimeout)
                if pending == .none { pending = .retransmission }
            }
        }
        if phase == .active, let refreshAt, now >= refreshAt {
            self.refreshAt = nil
            beginUpdate()
        }
        actions += flush(at: now)
        return actions
    }

    // MARK: Internals

    /// Reports and forgets a binding whose lifetime has passed (e.g. the process was stopped past it), and
    /// starts a first registration.
    private mutating func expireIfDue(at now: UInt64) -> [BindingUpdateListAction] {
        guard phase == .active, let bindingExpiresAt, now >= bindingExpiresAt else { return [] }
        self.bindingExpiresAt = nil
        refreshAt = nil
        grantedLifetimeSeconds = nil
        natKeepaliveSeconds = nil
        acknowledgedIPv4HomeAddress = nil
        ipv4HomeAddressStatus = nil
        beginUpdate()
        return [.registrationExpired]
    }

    /// Arms a new Binding Update carrying the current state, with a fresh backoff.
    private mutating func beginUpdate() {
        pending = .update
        retransmitAt = nil
        currentTimeout = bindingExpiresAt == nil ? Self.initialBindackTimeoutFirstReg : Self.initialBindackTimeout
        attempt = 0
    }

    private mutating func resynchronise(to lastAccepted: UInt16, at now: UInt64) -> [BindingUpdateListAction] {
        nextSequenceNumber = MobilitySequenceNumber.next(after: lastAccepted)
        if phase == .deregistering {
            guard deregistrationTransmissionsSent < Self.deregistrationTransmissions else { return [] }
            retransmitAt = nil
            pending = .retransmission
            return flush(at: now)
        }
        guard !resynchronisedSinceLastAcceptance else { return [] }  // the retransmission timer resends
        resynchronisedSinceLastAcceptance = true
        retransmitAt = nil
        if pending == .none { pending = .retransmission }
        return flush(at: now)
    }

    private mutating func accept(_ acknowledgement: BindingAcknowledgement, at now: UInt64) -> [BindingUpdateListAction]
    {
        lastRefusal = nil
        resynchronisedSinceLastAcceptance = false
        attempt = 0
        let granted = UInt32(acknowledgement.lifetimeUnits) * 4
        grantedLifetimeSeconds = granted

        var refreshAdvice: UInt32?
        var keepalive: UInt32?
        var ipv4Status: IPv4AddressAcknowledgementStatus?
        var ipv4Address: IPv4Address?
        for option in acknowledgement.options {
            switch option {
            case .bindingRefreshAdvice(let units):
                refreshAdvice = UInt32(units) * 4
            case .natDetection(_, let refreshTime):
                keepalive =
                    switch refreshTime {
                    case 0: Self.defaultNATKeepaliveSeconds
                    case Self.noNATKeepaliveRefreshTime: 0
                    default: refreshTime
                    }
            case .ipv4AddressAcknowledgement(let status, let address, _):
                ipv4Status = status
                ipv4Address = status.isSuccess ? address : nil
            default:
                break
            }
        }
        natKeepaliveSeconds = keepalive
        ipv4HomeAddressStatus = ipv4Status
        acknowledgedIPv4HomeAddress = configuration.ipv4HomeAddress == nil ? nil : ipv4Address

        if granted == 0 {
            // An accepted BU with lifetime 0 granted for a non-zero request leaves nothing to lean on:
            // keep "registered" for one rate window and refresh at once (the rate limit paces it).
            bindingExpiresAt = saturatingDeadline(now, plus: Self.updateRateWindow)
            refreshAt = nil
            beginUpdate()
        } else {
            // Counted from the sending of the accepted BU: the HA started its count no earlier.
            let lifetime = UInt64(granted) * nanosecondsPerSecond
            bindingExpiresAt = saturatingDeadline(lastSentAt, plus: lifetime)
            var refreshIn = lifetime / 100 * Self.refreshPercent
            if let refreshAdvice, refreshAdvice > 0 {
                refreshIn = min(refreshIn, UInt64(refreshAdvice) * nanosecondsPerSecond)
            }
            refreshAt = saturatingDeadline(lastSentAt, plus: refreshIn)
        }
        var actions: [BindingUpdateListAction] = [
            .registered(
                grantedLifetimeSeconds: granted, natKeepaliveSeconds: keepalive,
                ipv4HomeAddress: acknowledgedIPv4HomeAddress)
        ]
        // A CoA change that the rate limit held back while this BA was on its way still has to go out.
        actions += flush(at: now)
        return actions
    }

    /// The earliest time the rate limit allows another Binding Update: ``maxUpdateRate`` in any
    /// ``updateRateWindow`` (RFC 6275 §11.8).
    private var earliestSendTime: UInt64 {
        guard recentSends.count >= Self.maxUpdateRate, let oldest = recentSends.first else { return 0 }
        return saturatingDeadline(oldest, plus: Self.updateRateWindow)
    }

    /// Sends what is pending, if there is a path and the rate limit allows; else leaves it pending.
    private mutating func flush(at now: UInt64) -> [BindingUpdateListAction] {
        guard pending != .none, phase != .deregistered, let careOfAddress, now >= earliestSendTime else { return [] }
        let deregistration = phase == .deregistering
        var options: [MobilityOption] = []
        switch careOfAddress {
        case .v4(let address): options.append(.ipv4CareOfAddress(address))
        case .v6(let address): options.append(.alternateCareOfAddress(address))
        }
        if !deregistration, var homeAddress = configuration.ipv4HomeAddress {
            // Once the HA assigned an address, ask for that one again (RFC 5555 §3.1.1).
            if homeAddress == .any, let acknowledged = acknowledgedIPv4HomeAddress { homeAddress = acknowledged }
            options.append(.ipv4HomeAddress(address: homeAddress, prefixLength: 32, requestPrefix: false))
        }
        let update = BindingUpdate(
            sequenceNumber: nextSequenceNumber, flags: [.acknowledge, .homeRegistration],
            lifetimeUnits: deregistration ? 0 : configuration.lifetimeUnits, options: options)

        lastSentSequenceNumber = nextSequenceNumber
        nextSequenceNumber = MobilitySequenceNumber.next(after: nextSequenceNumber)
        lastSentAt = now
        recentSends.append(now)
        if recentSends.count > Self.maxUpdateRate { recentSends.removeFirst(recentSends.count - Self.maxUpdateRate) }
        attempt += 1
        if deregistration { deregistrationTransmissionsSent += 1 }
        pending = .none
        awaitingAcknowledgement = true
        retransmitAt = saturatingDeadline(now, plus: currentTimeout)
        return [.send(update)]
    }
}
