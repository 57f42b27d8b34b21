public import Synchronization
public import TernDataChannel
public import TernProtocol

/// One Mobile Node as the Home Agent's data plane sees it.
///
/// Ownership: `outbound` belongs to the TUN→UDP thread and `inbound` to the UDP→TUN thread; neither is
/// touched by the other. The endpoint is the one shared value: written by the receiving thread when an
/// authenticated, newest packet arrives from a new address, read by the sending thread, which caches it
/// and re-reads only when `endpointVersion` changes (an atomic load per packet, no lock per packet).
public final class MobileNodeSession: @unchecked Sendable {
    public let name: String
    public let securityParameterIndex: SecurityParameterIndex
    public let scope: SecurityAssociationScope
    public let homeAddresses: [IPAddress]
    public let outbound: OutboundSecurityAssociation
    public let inbound: InboundSecurityAssociation
    /// The IPv4 Home Address the HA acknowledges in option 30 (RFC 5555): the first IPv4 one configured.
    public let ipv4HomeAddress: IPv4Address?
    private let endpoint = Mutex<Endpoint?>(nil)
    public let endpointVersion = Atomic<UInt64>(0)
    /// Until when (monotonic ns) the binding cache holds a live binding for this MN; 0: none. Written by
    /// the receiving thread (which owns the binding cache), read by the sending thread once per packet
    /// with relaxed ordering: a stale read costs at most one packet sent or dropped at the boundary.
    public let bindingExpiresAt = Atomic<UInt64>(0)
    /// Set by the sending thread once the HA's outbound sequence numbers pass the soft limit; read by the
    /// receiving thread when it answers a Binding Update (REINIT_SA_WITH_HAC, DESIGN.md).
    public let outboundPastSoftLimit = Atomic<Bool>(false)
    /// Receiving thread only: when this MN was last sent a Binding Error for having no binding.
    public var lastBindingErrorAt: UInt64 = 0
    /// Sending thread only: its copy of the endpoint, refreshed when `endpointVersion` moves.
    private var cachedEndpoint: Endpoint?
    private var cachedEndpointVersion: UInt64 = 0

    /// HA→MN sequence numbers persisted before use (DESIGN.md: an SA restored after a restart never
    /// reuses a sequence number); unlimited for an SA with no persistence.
    public let reservation: SendReservation
    /// The highest MN→HA sequence number accepted so far: stored by the receiving thread for each newest
    /// packet (relaxed, one store), read by the state thread, which persists it (docs/tunnel.md, Restarts).
    public let receivedHighWater: Atomic<UInt32>
    /// Receiving thread only: after an unclean stop, no datagram moves the endpoint until the MN's own
    /// Binding Update is accepted (a datagram sealed in the unpersisted gap could be a replay).
    public var endpointHeldUntilBindingUpdate: Bool

    /// When the HAC issued the SA and when it ends (seconds since 1970); nil for a static SA.
    public let validity: (issuedAt: Double, end: Double)?
    /// The share of an SA's validity at whose end the HA asks for a new SA (REINIT_SA_WITH_HAC).
    public static let reinitializeFraction = 0.1

    public init(
        name: String, association: SecurityAssociation, homeAddresses: [IPAddress],
        sequenceReservation: (resumeAfter: UInt32, grantedThrough: UInt32)? = nil,
        validity: (issuedAt: Double, end: Double)? = nil, receivedThrough: UInt32 = 0, holdEndpoint: Bool = false,
        lanes: Int = 1
    ) throws(SecurityAssociationError) {
        self.name = name
        self.validity = validity
        securityParameterIndex = association.securityParameterIndex
        scope = association.scope
        self.homeAddresses = homeAddresses
        ipv4HomeAddress = homeAddresses.lazy.compactMap { if case .v4(let address) = $0 { address } else { nil } }.first
        (outbound, inbound) = try association.makeEndpoints(
            for: .homeAgent, lastSentSequenceNumber: sequenceReservation?.resumeAfter ?? 0,
            receivedThrough: receivedThrough, lanes: lanes)
        reservation = SendReservation(grantedThrough: sequenceReservation?.grantedThrough)
        receivedHighWater = Atomic(receivedThrough)
        endpointHeldUntilBindingUpdate = holdEndpoint
    }

    /// Sending thread only: whether the next outbound sequence number is within the granted
    /// reservation; asks for the next step (once) in `requests` when half of what is left is used.
    @inline(__always)
    public func mayUseNextSequenceNumber(requesting requests: inout SequenceReservationRequests) -> Bool {
        reservation.mayUse(after: outbound.sequenceNumber.lastSent, spi: securityParameterIndex, requesting: &requests)
    }

    /// Raises the granted reservation (never lowers it); any thread.
    public func grantSequenceNumbers(through limit: UInt32) { reservation.grant(through: limit) }

    /// HA→MN sequence numbers reserved at a time (``SendReservation/step``).
    public static var reservationStep: UInt32 { SendReservation.step }

    /// True when the SA should be replaced before it is used much longer (DESIGN.md: 176): either
    /// direction past the sequence soft limit, or in the last tenth of its validity at `now` (seconds
    /// since 1970).
    public func needsNewSecurityAssociation(inboundHighest: UInt32, now: Double) -> Bool {
        if outboundPastSoftLimit.load(ordering: .relaxed) || inboundHighest >= OutboundSequenceNumber.softLimit {
            return true
        }
        guard let validity else { return false }
        return now >= validity.end - (validity.end - validity.issuedAt) * Self.reinitializeFraction
    }

    public func currentEndpoint() -> Endpoint? { endpoint.withLock { $0 } }

    /// Records a new endpoint; returns the previous one.
    public func move(to new: Endpoint) -> Endpoint? {
        let previous = endpoint.withLock { current in
            let previous = current
            current = new
            return previous
        }
        endpointVersion.add(1, ordering: .releasing)
        return previous
    }

    @inline(__always)
    public func owns(_ address: IPAddress) -> Bool { homeAddresses.contains(address) }

    /// Sending thread only: where to send, re-read under the mutex only when the receiving thread moved
    /// it (an atomic load per packet, no lock per packet).
    @inline(__always)
    public func endpointForSending() -> Endpoint? {
        let version = endpointVersion.load(ordering: .acquiring)
        if version != cachedEndpointVersion {
            cachedEndpoint = currentEndpoint()
            cachedEndpointVersion = version
        }
        return cachedEndpoint
    }
}

/// The Mobile Nodes a data plane serves, as one immutable value. The HAC replaces it whole when it
/// installs or retires an SA; each data-plane thread picks up the new table once per batch (an atomic
/// version check), so lookups take no lock. Sessions carry over from table to table, with their
/// endpoints, replay windows and sequence numbers.
public final class SessionTable: Sendable {
    public let sessions: [MobileNodeSession]
    public let bySPI: [UInt32: MobileNodeSession]
    /// Each Home Address's sessions, newest SA first: during a make-before-break switch an MN has two.
    public let byHomeAddress: [IPAddress: [MobileNodeSession]]

    public init(_ sessions: [MobileNodeSession]) {
        self.sessions = sessions
        var bySPI: [UInt32: MobileNodeSession] = [:]
        var byHomeAddress: [IPAddress: [MobileNodeSession]] = [:]
        for session in sessions {
            bySPI[session.securityParameterIndex.rawValue] = session
            for address in session.homeAddresses { byHomeAddress[address, default: []].insert(session, at: 0) }
        }
        self.bySPI = bySPI
        self.byHomeAddress = byHomeAddress
    }

    /// The session to send a packet for `address` through: the newest with a live binding at `now`.
    @inline(__always)
    public func session(for address: IPAddress, at now: UInt64) -> (session: MobileNodeSession?, known: Bool) {
        guard let candidates = byHomeAddress[address] else { return (nil, false) }
        for candidate in candidates where candidate.bindingExpiresAt.load(ordering: .relaxed) > now {
            return (candidate, true)
        }
        return (nil, true)
    }
}

/// A thread's view of the current ``SessionTable``: refreshed at most once per batch.
public struct SessionTableView {
    public private(set) var table: SessionTable
    private var version: UInt64

    public init(_ source: SessionTableSource) {
        (table, version) = source.current()
    }

    /// Picks up a newer table if there is one; true when it changed.
    @inline(__always)
    public mutating func refresh(from source: SessionTableSource) -> Bool {
        guard source.version.load(ordering: .acquiring) != version else { return false }
        (table, version) = source.current()
        return true
    }
}

/// Where the current table lives: written rarely (the HAC), read once per batch by each thread.
public final class SessionTableSource: Sendable {
    private let table: Mutex<SessionTable>
    public let version = Atomic<UInt64>(1)

    public init(_ table: SessionTable) { self.table = Mutex(table) }

    public func current() -> (SessionTable, UInt64) {
        table.withLock { ($0, version.load(ordering: .acquiring)) }
    }

    /// Replaces the table with `change(current)`.
    public func update(_ change: (SessionTable) throws(DataPlaneError) -> SessionTable) throws(DataPlaneError) {
        try table.withLock { (table: inout SessionTable) throws(DataPlaneError) in
            table = try change(table)
            version.add(1, ordering: .releasing)
        }
    }
}
