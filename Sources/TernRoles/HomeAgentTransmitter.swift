import TernDataChannel
public import TernProtocol

extension HomeAgentCore {
    /// Where one inner packet from the TUN device goes: sealed under `session`'s outbound SA (scope
    /// `session.scope`) and sent to `endpoint`, the outer address of the MN's newest authenticated packet.
    public struct Route {
        public let session: MobileNodeSession
        public let destination: IPAddress
        public let endpoint: Endpoint
    }

    /// The Home Agent's sending half: which Mobile Node an inner packet is for (by Home Address, the
    /// newest SA with a live binding during a make-before-break switch), where that MN is reached, and
    /// whether its SA may use another sequence number (the persisted reservation). The engine seals and
    /// sends; the decisions are here. It shares the sessions with its ``HomeAgentCore``.
    public struct Transmitter {
        private let tables: SessionTableSource
        public private(set) var view: SessionTableView
        /// Reservation requests this side raised, for the engine to hand on (``SequenceReservationRequests``).
        public var reservationRequests = SequenceReservationRequests()

        public init(tables: SessionTableSource) {
            self.tables = tables
            view = SessionTableView(tables)
        }

        /// Once per batch: picks up a new session table if there is one.
        @inline(__always)
        public mutating func beginBatch() { _ = view.refresh(from: tables) }

        /// The route for the inner packet at `payload` of `slot` at `now` (monotonic ns), or nil after
        /// counting why it cannot go: not an IP packet, no MN owns its destination, the MN has no live
        /// binding, or its reservation is used up (a request for more is then pending).
        @inline(__always)
        public mutating func route(
            _ slot: UnsafeRawBufferPointer, payload: Range<Int>, now: UInt64, counters local: inout TunnelCounters
        ) -> Route? {
            guard let destination = InnerPacket.destination(slot, payload) else {
                local.drop(.malformedInnerPacket)
                return nil
            }
            let (found, known) = view.table.session(for: destination, at: now)
            guard known else {
                local.drop(.unknownHomeAddress)
                return nil
            }
            guard let session = found, let endpoint = session.endpointForSending() else {
                local.drop(.noBinding)
                return nil
            }
            guard session.mayUseNextSequenceNumber(requesting: &reservationRequests) else {
                local.drop(.sequenceReservationPending)
                return nil
            }
            return Route(session: session, destination: destination, endpoint: endpoint)
        }

        /// After the engine sealed a packet of `route`: past the soft limit, the next Binding Update is
        /// answered with REINIT_SA_WITH_HAC (DESIGN.md: 176).
        @inline(__always)
        public func sealed(_ route: Route, pastSoftLimit: Bool) {
            if pastSoftLimit { route.session.outboundPastSoftLimit.store(true, ordering: .relaxed) }
        }

        /// Whether a Mobility Header may be sealed under `session` now (the reservation).
        public mutating func maySignal(_ session: MobileNodeSession, counters local: inout TunnelCounters) -> Bool {
            guard session.mayUseNextSequenceNumber(requesting: &reservationRequests) else {
                local.drop(.sequenceReservationPending)
                return false
            }
            return true
        }
    }
}
