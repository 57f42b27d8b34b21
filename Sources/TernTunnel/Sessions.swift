import Synchronization
import TernDataChannel
import TernProtocol

/// One Mobile Node as the Home Agent's data plane sees it.
///
/// Ownership: `outbound` belongs to the TUN→UDP thread and `inbound` to the UDP→TUN thread; neither is
/// touched by the other. The endpoint is the one shared value: written by the receiving thread when an
/// authenticated, newest packet arrives from a new address, read by the sending thread, which caches it
/// and re-reads only when `endpointVersion` changes (an atomic load per packet, no lock per packet).
final class MobileNodeSession: @unchecked Sendable {
    let name: String
    let securityParameterIndex: SecurityParameterIndex
    let scope: SecurityAssociationScope
    let homeAddresses: [IPAddress]
    let outbound: OutboundSecurityAssociation
    let inbound: InboundSecurityAssociation
    /// The IPv4 Home Address the HA acknowledges in option 30 (RFC 5555): the first IPv4 one configured.
    let ipv4HomeAddress: IPv4Address?
    private let endpoint = Mutex<Endpoint?>(nil)
    let endpointVersion = Atomic<UInt64>(0)
    /// Until when (monotonic ns) the binding cache holds a live binding for this MN; 0: none. Written by
    /// the receiving thread (which owns the binding cache), read by the sending thread once per packet
    /// with relaxed ordering: a stale read costs at most one packet sent or dropped at the boundary.
    let bindingExpiresAt = Atomic<UInt64>(0)
    /// Set by the sending thread once the HA's outbound sequence numbers pass the soft limit; read by the
    /// receiving thread when it answers a Binding Update (REINIT_SA_WITH_HAC, DESIGN.md).
    let outboundPastSoftLimit = Atomic<Bool>(false)

    init(name: String, association: SecurityAssociation, homeAddresses: [IPAddress]) throws(SecurityAssociationError) {
        self.name = name
        securityParameterIndex = association.securityParameterIndex
        scope = association.scope
        self.homeAddresses = homeAddresses
        ipv4HomeAddress = homeAddresses.lazy.compactMap { if case .v4(let address) = $0 { address } else { nil } }.first
        (outbound, inbound) = try association.makeEndpoints(for: .homeAgent)
    }

    /// True when the SA should be replaced before it is used much longer: either direction past the
    /// sequence soft limit. (The validity end arrives with the HAC.)
    func needsNewSecurityAssociation(inboundHighest: UInt32) -> Bool {
        outboundPastSoftLimit.load(ordering: .relaxed) || inboundHighest >= OutboundSequenceNumber.softLimit
    }

    func currentEndpoint() -> Endpoint? { endpoint.withLock { $0 } }

    /// Records a new endpoint; returns the previous one.
    func move(to new: Endpoint) -> Endpoint? {
        let previous = endpoint.withLock { current in
            let previous = current
            current = new
            return previous
        }
        endpointVersion.add(1, ordering: .releasing)
        return previous
    }

    @inline(__always)
    func owns(_ address: IPAddress) -> Bool { homeAddresses.contains(address) }
}

/// The sending thread's copy of each session's endpoint, refreshed only when its version moves.
struct EndpointCache {
    private var endpoints: [Endpoint?]
    private var versions: [UInt64]

    init(count: Int) {
        endpoints = [Endpoint?](repeating: nil, count: count)
        versions = [UInt64](repeating: 0, count: count)
    }

    @inline(__always)
    mutating func endpoint(of session: MobileNodeSession, at index: Int) -> Endpoint? {
        let version = session.endpointVersion.load(ordering: .acquiring)
        if version != versions[index] {
            endpoints[index] = session.currentEndpoint()
            versions[index] = version
        }
        return endpoints[index]
    }
}

/// Where a data-plane thread publishes its counters (every few hundred milliseconds, never per packet).
final class CounterBoard: @unchecked Sendable {
    private let slots: Mutex<[TunnelCounters]>

    init(threads: Int) {
        slots = Mutex([TunnelCounters](repeating: TunnelCounters(), count: threads))
    }

    func publish(_ counters: TunnelCounters, slot: Int) { slots.withLock { $0[slot] = counters } }

    func total() -> TunnelCounters {
        slots.withLock { $0.reduce(TunnelCounters()) { $0.adding($1) } }
    }
}
