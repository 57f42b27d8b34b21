import Synchronization
public import TernDataChannel
public import TernOS
public import TernProtocol
import TernRoles
#if canImport(Glibc)
import Glibc
#endif

/// One change of the Mobile Node's path and how fast the tunnel followed it (issue: measured handovers).
/// Times after detection are in milliseconds of the monotonic clock; `detectedAt` is wall-clock seconds.
public struct HandoverRecord: Sendable, Hashable {
    public enum Trigger: String, Sendable, Hashable {
        /// The daemon started and found its first path.
        case startup
        /// rtnetlink announced a change and the route to the Home Agent now leaves differently.
        case pathChange = "path-change"
        /// CLOCK_BOOTTIME ran ahead of CLOCK_MONOTONIC: the machine was suspended.
        case resume
        /// The registration's lifetime had run out when the daemon looked (e.g. the process was frozen).
        case expired
    }

    public var trigger: Trigger
    public var from: IPAddress?
    public var to: IPAddress?
    /// The Home Agent address the new path leads to.
    public var homeAgent: SocketAddress?
    public var detectedAt: Double
    public var bindingUpdateSentAfterMilliseconds: Double?
    public var acknowledgedAfterMilliseconds: Double?
    public var firstDataAfterMilliseconds: Double?

    let detectedMonotonic: UInt64
    let generation: UInt64

    /// Every step the record waits for has happened.
    var isComplete: Bool {
        (to == nil || (bindingUpdateSentAfterMilliseconds != nil && acknowledgedAfterMilliseconds != nil))
            && firstDataAfterMilliseconds != nil
    }
}

/// What `tern status` shows of the Mobile Node's registration.
public struct MobileNodeRegistration: Sendable {
    public var state: String
    /// The Home Agent holds an accepted, unexpired registration (what `state` says as "registered").
    public var isRegistered = false
    public var careOfAddress: IPAddress?
    public var homeAgent: SocketAddress?
    public var grantedLifetimeSeconds: UInt32?
    public var natKeepaliveSeconds: UInt32?
    public var ipv4HomeAddress: IPv4Address?
    public var handovers: [HandoverRecord]
}

/// The Mobile Node's control plane: it watches the routing table (rtnetlink), keeps the Binding Update
/// List (RFC 6275 §11), and tells the data plane where the Home Agent is. One dedicated thread; the
/// pure ``MobileNodeControlCore`` (TernRoles) makes every protocol decision — Binding Updates and their
/// answers, lifetimes, retransmissions, liveness, re-key timing — this type only feeds it events and
/// clocks and carries out what it asks.
///
/// Movement detection: after any rtnetlink announcement it asks the kernel afresh for the route to each
/// of the Home Agent's addresses (most preferred first). The first one with a route is the path; its
/// source address is the care-of address. When that changes, the data plane switches at once and a
/// Binding Update goes out from the new address. Suspend/resume is seen as CLOCK_BOOTTIME running
/// ahead of CLOCK_MONOTONIC, and answered with a Binding Update too.
public final class MobileNodeController: @unchecked Sendable {
    /// Handover records kept for status.
    public static let handoverHistory = 16
    /// How long a clean stop waits for the deregistration's Binding Acknowledgement.
    static let deregistrationWaitNanoseconds: UInt64 = 2_000_000_000

    /// A new SA from the HAC and how long it is valid from now (seconds).
    public struct Rekeyed: Sendable {
        public var association: SecurityAssociation
        public var validitySeconds: Double

        public init(association: SecurityAssociation, validitySeconds: Double) {
            self.association = association
            self.validitySeconds = validitySeconds
        }
    }
    /// Runs a HAC exchange (on a thread of its own: it blocks for the TLS round trips).
    public typealias Rekey = @Sendable () throws -> Rekeyed

    private let dataPlane: MobileNodeDataPlane
    private let netlink: RouteNetlink
    private let monitor: RouteMonitor
    private let firewallMark: UInt32?
    /// Settings from a configuration reload, taken by the control thread when it next wakes.
    private let pendingSettings = Mutex<Settings?>(nil)
    private let events: @Sendable (MobileNodeEvent) -> Void
    private let rekey: Rekey?
    private let rekeyResults: Mailbox<Result<Rekeyed, RekeyFailure>>
    private let stopping = Atomic<Bool>(false)
    private let wakeUp: Notifier
    /// Wakes the thread at its next deadline on CLOCK_BOOTTIME, so that no periodic wake-up is needed to
    /// notice a suspend: a deadline that passed while the machine slept fires at resume.
    private let timer: BootTimer
    private var thread: PlatformThread?
    private let published = Mutex<MobileNodeRegistration>(
        MobileNodeRegistration(state: "starting", handovers: []))

    // Owned by the control thread.
    private var core: MobileNodeControlCore
    private var path: (index: Int, route: RouteAnswer)?
    private var handovers: [HandoverRecord] = []

    /// - Parameters:
    ///   - binding: what the Binding Updates ask for (lifetime, IPv4 Home Address).
    ///   - initialSequenceNumber: a random first Sequence # (DESIGN.md).
    ///   - keepaliveIntervalSeconds: the configured idle keepalive; a NAT's refresh time may shorten it.
    ///   - firewallMark: the SO_MARK of the data plane's sockets, if any: routes to the Home Agent are
    ///     looked up for packets with that mark.
    public init(
        dataPlane: MobileNodeDataPlane, netlink: RouteNetlink, monitor: RouteMonitor,
        binding: BindingUpdateList.Configuration, initialSequenceNumber: UInt16, keepaliveIntervalSeconds: Int,
        rekey: Rekey? = nil, validitySeconds: Double? = nil, firewallMark: UInt32? = nil,
        events: @escaping @Sendable (MobileNodeEvent) -> Void
    ) throws(SystemCallError) {
        self.firewallMark = firewallMark
        self.rekey = rekey
        rekeyResults = try Mailbox()
        self.dataPlane = dataPlane
        self.netlink = netlink
        self.monitor = monitor
        self.events = events
        wakeUp = try Notifier()
        timer = try BootTimer()
        core = MobileNodeControlCore(
            binding: binding, initialSequenceNumber: initialSequenceNumber,
            keepaliveIntervalSeconds: keepaliveIntervalSeconds, hasController: rekey != nil,
            validitySeconds: validitySeconds, at: monotonicNanoseconds())
        _ = core.clocksRead(monotonic: monotonicNanoseconds(), bootTime: bootTimeNanoseconds())
    }

    public func start() throws(SystemCallError) {
        thread = try PlatformThread(name: "tern-mn-ctl") { [self] in run() }
    }

    /// Deregisters (a Binding Update with lifetime 0, waiting at most 2 s for its acknowledgement), then
    /// stops the thread. Idempotent.
    public func stop() {
        stopping.store(true, ordering: .releasing)
        wakeUp.signal()
        thread?.join()
        thread = nil
    }

    /// What a configuration reload may change while the Mobile Node runs.
    public struct Settings: Sendable, Hashable {
        /// The configured idle keepalive (a NAT's refresh time may still shorten it); 0 turns it off.
        public var keepaliveIntervalSeconds: Int
        /// The lifetime the next Binding Updates ask for.
        public var requestedLifetimeSeconds: UInt32

        public init(keepaliveIntervalSeconds: Int, requestedLifetimeSeconds: UInt32) {
            self.keepaliveIntervalSeconds = keepaliveIntervalSeconds
            self.requestedLifetimeSeconds = requestedLifetimeSeconds
        }
    }

    /// Applies `settings` on the control thread: the keepalive at once, the lifetime from the next
    /// Binding Update (the refresh) on.
    public func reconfigure(_ settings: Settings) {
        pendingSettings.withLock { $0 = settings }
        wakeUp.signal()
    }

    /// The registration and the last handovers, as last published by the control thread.
    public func registration() -> MobileNodeRegistration { published.withLock { $0 } }

    // MARK: The control thread

    private func run() {
        let poller = Poller([
            monitor.descriptor.rawValue, dataPlane.incomingSignalling.notifier.descriptor.rawValue,
            wakeUp.descriptor.rawValue, rekeyResults.notifier.descriptor.rawValue, timer.descriptor.rawValue,
            dataPlane.handoverProgress.descriptor.rawValue,
        ])
        evaluatePath(trigger: .startup, at: monotonicNanoseconds())
        while !stopping.load(ordering: .acquiring) {
            do {
                try poller.wait(timeoutMilliseconds: pollTimeout(at: monotonicNanoseconds()))
            } catch {
                events(.failed("control thread: \(error)"))
                return
            }
            let now = monotonicNanoseconds()
            detectResume(at: now)
            if poller.isReadable(0) {
                do {
                    if try monitor.drainChanges() > 0 { evaluatePath(trigger: .pathChange, at: now) }
                } catch {
                    events(.failed("route monitor: \(error)"))
                }
            }
            if poller.isReadable(1) { receiveSignalling(at: now) }
            if poller.isReadable(3) { finishRekey(at: now) }
            if poller.isReadable(4) { timer.drain() }
            if poller.isReadable(5) { dataPlane.handoverProgress.drain() }
            if poller.isReadable(2) {
                wakeUp.drain()
                if let settings = pendingSettings.withLock({ $0.take() }) {
                    perform(
                        core.reconfigure(
                            keepaliveIntervalSeconds: settings.keepaliveIntervalSeconds,
                            requestedLifetimeSeconds: settings.requestedLifetimeSeconds), at: now)
                }
            }
            let counters = dataPlane.statistics()
            perform(
                core.poll(at: now, packetsSent: counters.packetsSent, packetsReceived: counters.packetsReceived),
                at: now)
            updateHandover(at: now)
            publish()
        }
        deregister()
    }

    /// Arms the boot-time timer for the next deadline; poll itself then sleeps without a limit (DESIGN.md:
    /// idle is idle). Handover records are completed by the events that complete them: the Binding
    /// Acknowledgement, and the data plane's signal when the first data arrives.
    private func pollTimeout(at now: UInt64) -> Int32 {
        if let next = core.nextDeadline {
            // Monotonic deadlines carried to CLOCK_BOOTTIME: the two advance together while awake.
            timer.arm(at: bootTimeNanoseconds() &+ (next > now ? next - now : 0))
        } else {
            timer.arm(at: nil)
        }
        return -1
    }

    /// Asks the kernel where packets to each Home Agent address would go; acts when the answer changed.
    private func evaluatePath(trigger: HandoverRecord.Trigger, at now: UInt64) {
        var found: (index: Int, route: RouteAnswer)?
        for (index, homeAgent) in dataPlane.homeAgents.enumerated() {
            // With the full tunnel, the data plane's sockets carry a firewall mark that keeps them off
            // the tunnel's table: ask for the route such a packet takes, not an unmarked one's.
            guard let route = try? netlink.lookupRoute(to: homeAgent.address, mark: firewallMark),
                route.type == RouteNetlinkMessage.RTN_UNICAST, route.preferredSource != nil
            else { continue }
            found = (index, route)
            break
        }
        if let found, let path, found.index == path.index, found.route == path.route { return }
        if found == nil && path == nil && trigger != .startup { return }
        let previous = path?.route.preferredSource
        path = found
        dataPlane.useHomeAgent(found?.index)
        beginHandover(trigger: trigger, from: previous, at: now)
        perform(core.careOfAddressChanged(to: found?.route.preferredSource, at: now), at: now)
    }

    private func beginHandover(trigger: HandoverRecord.Trigger, from previous: IPAddress?, at now: UInt64) {
        let record = HandoverRecord(
            trigger: trigger, from: previous, to: path?.route.preferredSource,
            homeAgent: path.map { dataPlane.homeAgents[$0.index] }, detectedAt: wallClockSeconds(),
            detectedMonotonic: now, generation: dataPlane.beginHandover())
        if let last = handovers.last, !last.isComplete { events(.handover(last)) }
        handovers.append(record)
        if handovers.count > Self.handoverHistory { handovers.removeFirst(handovers.count - Self.handoverHistory) }
        let text = "\(previous.map(\.description) ?? "none") → \(record.to.map(\.description) ?? "none")"
        events(.pathChanged(trigger: trigger, description: text))
    }

    /// A machine suspend shows as CLOCK_BOOTTIME running ahead of CLOCK_MONOTONIC.
    private func detectResume(at now: UInt64) {
        guard core.clocksRead(monotonic: now, bootTime: bootTimeNanoseconds()) else { return }
        beginHandover(trigger: .resume, from: path?.route.preferredSource, at: now)
        perform(core.resumed(at: now), at: now)
        // A resume often comes with a new network: look at once rather than wait for the announcements.
        evaluatePath(trigger: .pathChange, at: now)
    }

    private func receiveSignalling(at now: UInt64) {
        for octets in dataPlane.incomingSignalling.take() { perform(core.received(mobilityHeader: octets, at: now), at: now) }
    }

    /// Carries out what the core asked for, in order.
    private func perform(_ actions: [MobileNodeControlAction], at now: UInt64) {
        for action in actions {
            switch action {
            case .send(let update):
                if !dataPlane.send(mobilityHeader: MobilityHeaderCodec.encode(.bindingUpdate(update))) {
                    events(.failed("signalling mailbox full: Binding Update \(update.sequenceNumber) not sent"))
                }
            case .setKeepalive(let seconds):
                dataPlane.setKeepaliveInterval(seconds: seconds)
            case .startRekey:
                startRekey()
            case .dropPreviousSecurityAssociation:
                dataPlane.dropPreviousSecurityAssociation()
            case .registered(let lifetime, let natKeepalive, let ipv4HomeAddress):
                if let index = handovers.indices.last, handovers[index].acknowledgedAfterMilliseconds == nil {
                    handovers[index].acknowledgedAfterMilliseconds = milliseconds(since: handovers[index], at: now)
                }
                events(
                    .registered(
                        lifetimeSeconds: lifetime, natKeepaliveSeconds: natKeepalive, ipv4HomeAddress: ipv4HomeAddress))
            case .rejected(let status):
                events(.rejected(status))
            case .reinitializeSecurityAssociation:
                events(.reinitializeSecurityAssociation)
            case .registrationExpired:
                events(.registrationExpired)
                beginHandover(trigger: .expired, from: path?.route.preferredSource, at: now)
            case .deregistered:
                events(.deregistered)
            case .homeAgentUnresponsive(let unanswered):
                events(.homeAgentUnresponsive(unanswered: unanswered))
            case .ignoredSignalling(let octets):
                events(.ignoredSignalling(octets: octets))
            }
        }
    }

    // MARK: Re-keying (RFC 6618 §4.3; DESIGN.md: REINIT_SA_WITH_HAC)

    /// Starts a HAC exchange on a thread of its own (the core asked: none is running and a HAC is known).
    private func startRekey() {
        guard let rekey else { return core.rekeyAbandoned() }
        let results = rekeyResults
        do {
            _ = try PlatformThread(name: "tern-mn-rekey") {
                results.post(Result { () throws(RekeyFailure) -> Rekeyed in
                    do { return try rekey() } catch { throw RekeyFailure(reason: "\(error)") }
                })
            }
        } catch {
            core.rekeyAbandoned()
            events(.failed("re-key: cannot start a thread: \(error)"))
        }
    }

    /// Make before break: the new SA sends from now on (the old one still opens what the HA sends under
    /// it), and a Binding Update under the new SPI — in a new sequence space — moves the HA over.
    private func finishRekey(at now: UInt64) {
        for result in rekeyResults.take() {
            switch result {
            case .success(let rekeyed):
                do {
                    try dataPlane.install(rekeyed.association)
                } catch {
                    core.rekeyAbandoned()
                    events(.failed("re-key: \(error)"))
                    continue
                }
                perform(
                    core.rekeySucceeded(
                        validitySeconds: rekeyed.validitySeconds,
                        initialSequenceNumber: UInt16.random(in: 0...UInt16.max), at: now), at: now)
                events(.rekeyed(spi: rekeyed.association.securityParameterIndex.rawValue))
            case .failure(let failure):
                events(.failed("re-key with the home agent controller failed: \(failure.reason)"))
                core.rekeyFailed(at: now)
            }
        }
    }

    private func updateHandover(at now: UInt64) {
        guard let index = handovers.indices.last, !handovers[index].isComplete else { return }
        var record = handovers[index]
        let sentAt = dataPlane.lastMobilityHeaderSentAt
        if record.bindingUpdateSentAfterMilliseconds == nil, sentAt >= record.detectedMonotonic {
            record.bindingUpdateSentAfterMilliseconds = Double(sentAt - record.detectedMonotonic) / 1e6
        }
        if record.firstDataAfterMilliseconds == nil, let at = dataPlane.firstDataReceived(since: record.generation),
            at >= record.detectedMonotonic
        {
            record.firstDataAfterMilliseconds = Double(at - record.detectedMonotonic) / 1e6
        }
        handovers[index] = record
        if record.isComplete { events(.handover(record)) }
    }

    private func milliseconds(since record: HandoverRecord, at now: UInt64) -> Double {
        Double(now &- record.detectedMonotonic) / 1e6
    }

    private func publish() {
        let list = core.list
        let state: String =
            switch list.state {
            case .idle: "idle (no path to the home agent)"
            case .registering(let attempt): "registering (attempt \(attempt))"
            case .registered: "registered"
            case .failed(let status): "refused (\(status))"
            case .deregistering: "deregistering"
            case .deregistered: "deregistered"
            }
        var isRegistered = false
        if case .registered = list.state { isRegistered = true }
        let registration = MobileNodeRegistration(
            state: state, isRegistered: isRegistered, careOfAddress: list.careOfAddress,
            homeAgent: path.map { dataPlane.homeAgents[$0.index] },
            grantedLifetimeSeconds: list.grantedLifetimeSeconds, natKeepaliveSeconds: list.natKeepaliveSeconds,
            ipv4HomeAddress: list.acknowledgedIPv4HomeAddress, handovers: handovers)
        published.withLock { $0 = registration }
    }

    /// The clean-shutdown Binding Update (lifetime 0), and a bounded wait for its acknowledgement.
    private func deregister() {
        guard path != nil else { return }
        let poller = Poller([dataPlane.incomingSignalling.notifier.descriptor.rawValue])
        var now = monotonicNanoseconds()
        let deadline = now + Self.deregistrationWaitNanoseconds
        perform(core.deregister(at: now), at: now)
        while core.list.state != .deregistered, now < deadline {
            _ = try? poller.wait(timeoutMilliseconds: 50)
            now = monotonicNanoseconds()
            receiveSignalling(at: now)
            perform(core.pollRegistration(at: now), at: now)
        }
        publish()
    }
}
