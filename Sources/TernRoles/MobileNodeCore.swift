public import TernDataChannel
public import TernProtocol

/// What the Mobile Node's core asks to be done after a received batch, besides the TUN writes each
/// ``ReceiveVerdict`` names. Caller-owned and reused (capacity kept).
public struct MobileNodeActions {
    /// Authenticated Mobility Headers from the HA (Binding Acknowledgements, Errors), for the control
    /// plane (``MobileNodeController``), which owns the Binding Update List.
    public var mobilityHeaders: [[UInt8]] = []
    /// The highest accepted HA→MN number moved (only when the SA's state persists).
    public var highWaterMoved = false

    public init() {}

    public mutating func removeAll() {
        if !mobilityHeaders.isEmpty { mobilityHeaders.removeAll(keepingCapacity: true) }
        highWaterMoved = false
    }
}

/// The Mobile Node's decisions for received datagrams, as a value (issue 14): only the Home Agent's
/// addresses are listened to, the SA is chosen by SPI among the current and the previous one (make
/// before break), replay and ICV are checked by that inbound SA, and an inner packet is written to the
/// TUN device only when it is for one of this node's Home Addresses. Its sending half is
/// ``Transmitter``: where to send, under which SA, the reservation, and when a keepalive is due.
///
/// The Binding Update List and the choice of the HA's address are the control plane's
/// (``MobileNodeController``, TernProtocol's `BindingUpdateList`); the core hands it the Mobility Headers
/// it receives and takes the address in use per batch.
public struct MobileNodeCore {
    public let associations: AssociationSource
    public private(set) var view: AssociationView
    /// The Home Agent's service addresses: a datagram from anywhere else is dropped before any crypto.
    public let homeAgents: [SocketAddress]
    public let homeAddresses: [IPAddress]
    /// Whether the SA's sequence state persists (a static SA with a state directory).
    public let persistsSequenceState: Bool

    public init(
        associations: AssociationSource, homeAgents: [SocketAddress], homeAddresses: [IPAddress],
        persistsSequenceState: Bool
    ) {
        self.associations = associations
        view = AssociationView(associations)
        self.homeAgents = homeAgents
        self.homeAddresses = homeAddresses
        self.persistsSequenceState = persistsSequenceState
    }

    /// The sending half, sharing this core's SAs.
    public func makeTransmitter(keepaliveIntervalSeconds: Int, now: UInt64) -> Transmitter {
        Transmitter(associations: associations, keepaliveIntervalSeconds: keepaliveIntervalSeconds, now: now)
    }

    /// Once per batch: picks up a newly installed SA.
    @inline(__always)
    public mutating func beginBatch() { view.refresh(associations) }

    /// The ordered first step: the datagram must come from the HA; then the inbound SA its SPI names.
    /// nil after counting the drop.
    @inline(__always)
    public func classify(_ datagram: ReceivedDatagram, counters local: inout TunnelCounters) -> InboundSecurityAssociation? {
        guard let source = datagram.source, homeAgents.contains(source) else {
            local.drop(.notFromHomeAgent)
            return nil
        }
        return view.set.inbound(for: UnsafeRawBufferPointer(datagram.buffer), datagram: datagram.range)
    }

    /// One received datagram, whole: checked, opened in place, then ``handle(_:of:counters:actions:)``.
    @inline(__always)
    public mutating func receive(
        _ datagram: ReceivedDatagram, counters local: inout TunnelCounters, actions: inout MobileNodeActions
    ) -> ReceiveVerdict {
        guard let inbound = classify(datagram, counters: &local) else { return .done }
        do {
            let opened = try inbound.open(datagram.buffer, datagram: datagram.range)
            return handle(opened, of: datagram, counters: &local, actions: &actions)
        } catch {
            local.drop(error)
            return .done
        }
    }

    /// What an opened datagram asks for: counted (keepalive), handed to the control plane (Mobility
    /// Header), or written to the TUN device (an inner packet for one of the Home Addresses).
    @inline(__always)
    public func handle(
        _ opened: OpenedDatagram, of datagram: ReceivedDatagram, counters local: inout TunnelCounters,
        actions: inout MobileNodeActions
    ) -> ReceiveVerdict {
        if persistsSequenceState, opened.isNewest {
            associations.receivedHighWater.store(opened.sequenceNumber, ordering: .relaxed)
            actions.highWaterMoved = true
        }
        switch opened.kind {
        case .keepalive:
            local.keepalivesReceived &+= 1
            return .done
        case .mobilityHeader:
            local.mobilityHeadersReceived &+= 1
            actions.mobilityHeaders.append(Array(UnsafeRawBufferPointer(rebasing: datagram.buffer[opened.payload])))
            return .done
        case .ipv4, .ipv6:
            guard let destination = InnerPacket.destination(UnsafeRawBufferPointer(datagram.buffer), opened.payload),
                homeAddresses.contains(destination)
            else {
                local.drop(.notForHomeAddress)
                return .done
            }
            return .writeToTun(opened.payload)
        }
    }
}

extension MobileNodeCore {
    /// Where the MN's datagrams go now and under which SA.
    public struct Route {
        public let outbound: OutboundSecurityAssociation
        public let scope: SecurityAssociationScope
        public let homeAgent: SocketAddress
    }

    /// The Mobile Node's sending half: every inner packet goes to the HA address in use (the control
    /// plane's choice, given per batch), under the current SA, within its reservation; a keepalive goes
    /// out when nothing else was sent for the keepalive interval (DESIGN.md: keepalive, NAT refresh).
    public struct Transmitter {
        private let associations: AssociationSource
        public private(set) var view: AssociationView
        public private(set) var homeAgent: SocketAddress?
        /// Reservation requests this side raised, for the engine to hand on.
        public var reservationRequests = SequenceReservationRequests()
        public private(set) var keepalive: KeepaliveSchedule

        public init(associations: AssociationSource, keepaliveIntervalSeconds: Int, now: UInt64) {
            self.associations = associations
            view = AssociationView(associations)
            keepalive = KeepaliveSchedule(intervalSeconds: keepaliveIntervalSeconds, now: now)
        }

        /// Once per batch: the HA address in use (nil: no path) and a newly installed SA.
        @inline(__always)
        public mutating func beginBatch(homeAgent: SocketAddress?) {
            self.homeAgent = homeAgent
            view.refresh(associations)
        }

        /// The route for the inner packet at `payload` of `slot`, or nil after counting why it cannot go
        /// (not an IP packet, no path to the HA, the reservation used up). The caller seals under
        /// `route.outbound` and sends to `route.homeAgent`.
        @inline(__always)
        public mutating func route(
            _ slot: UnsafeRawBufferPointer, payload: Range<Int>, counters local: inout TunnelCounters
        ) -> (route: Route, destination: IPAddress)? {
            guard let destination = InnerPacket.destination(slot, payload) else {
                local.drop(.malformedInnerPacket)
                return nil
            }
            guard let route = signallingRoute(counters: &local) else { return nil }
            return (route, destination)
        }

        /// The route for a datagram of the MN's own (a Mobility Header, a keepalive), or nil after counting
        /// why not.
        @inline(__always)
        public mutating func signallingRoute(counters local: inout TunnelCounters) -> Route? {
            guard let homeAgent else {
                local.drop(.noPathToHomeAgent)
                return nil
            }
            let set = view.set
            guard set.mayUseNextSequenceNumber(requesting: &reservationRequests) else {
                local.drop(.sequenceReservationPending)
                return nil
            }
            return Route(outbound: set.outbound, scope: set.scope, homeAgent: homeAgent)
        }

        /// Something went out at `now`: the keepalive waits another interval.
        @inline(__always)
        public mutating func sent(at now: UInt64) { keepalive.sent(at: now) }

        /// The keepalive interval from now on (a NAT's refresh time can shorten it); 0: none.
        public mutating func setKeepaliveInterval(seconds: Int) {
            keepalive = KeepaliveSchedule(intervalSeconds: seconds, now: keepalive.lastSent)
        }

        /// Whether a keepalive is due at `now`; when it is, it counts as sent (whether or not a path
        /// exists, so an MN without one does not spin).
        public mutating func keepaliveDue(at now: UInt64) -> Bool {
            guard keepalive.isDue(at: now) else { return false }
            keepalive.sent(at: now)
            return true
        }

        /// Milliseconds until the next keepalive (−1: none), for a poll timeout.
        public func millisecondsUntilKeepalive(at now: UInt64) -> Int32 {
            keepalive.interval > 0 ? keepalive.millisecondsUntilDue(at: now, cap: .max) : -1
        }
    }
}
