public import TernProtocol

/// Where a connection to the HAC comes from, as its limits count it: an IPv4 address, or an IPv6 /64
/// (one subscriber's prefix: an attacker holding a /64 must not count as 2^64 sources).
public enum ConnectionSource: Hashable, Sendable, CustomStringConvertible {
    case v4(IPv4Address)
    case v6Prefix(UInt64)

    public init(_ address: IPAddress) {
        switch address {
        case .v4(let v4): self = .v4(v4)
        case .v6(let v6): self = v6.mappedIPv4.map(Self.v4) ?? .v6Prefix(v6.high)
        }
    }

    public var description: String {
        switch self {
        case .v4(let address): "\(address)"
        case .v6Prefix(let high): "\(IPv6Address(high: high, low: 0))/64"
        }
    }
}

/// The controller's connection limits (`hac.limits`, docs/configuration.md), with their defaults.
public struct ControllerLimits: Sendable, Hashable {
    /// Connections open at once, all sources together. Each costs a descriptor and, once it has sent
    /// something, an OpenSSL session (a few tens of KiB): 2048 bound the memory to well under 100 MiB.
    public var maximumConnections: Int
    /// Connections open at once from one IPv4 address or IPv6 /64. A NAT may hide many MNs, but each
    /// exchange lasts milliseconds: 32 at once is a lot of simultaneous bootstraps.
    public var maximumConnectionsPerSource: Int
    /// From accept to the first octets of the ClientHello (an idle connection goes after this).
    public var firstRecordSeconds: Double
    /// From accept to the end of the TLS handshake (a slow-drip handshake goes after this).
    public var handshakeSeconds: Double
    /// From accept to the end of the whole exchange (TLS and both request/response pairs).
    public var exchangeSeconds: Double

    public static let defaultMaximumConnections = 2048
    public static let defaultMaximumConnectionsPerSource = 32
    public static let defaultFirstRecordSeconds = 2.0
    public static let defaultHandshakeSeconds = 5.0
    public static let defaultExchangeSeconds = 10.0
    /// How long an authenticated exchange may wait for the MN's close after the final response (so
    /// that closing never resets the connection under a response the MN has not read yet).
    public static let lingerSeconds = 1.0

    public init(
        maximumConnections: Int = Self.defaultMaximumConnections,
        maximumConnectionsPerSource: Int = Self.defaultMaximumConnectionsPerSource,
        firstRecordSeconds: Double = Self.defaultFirstRecordSeconds,
        handshakeSeconds: Double = Self.defaultHandshakeSeconds, exchangeSeconds: Double = Self.defaultExchangeSeconds
    ) {
        self.maximumConnections = maximumConnections
        self.maximumConnectionsPerSource = maximumConnectionsPerSource
        self.firstRecordSeconds = firstRecordSeconds
        self.handshakeSeconds = handshakeSeconds
        self.exchangeSeconds = exchangeSeconds
    }
}

/// The controller's admission and shedding policy, as a value (no descriptor, time passed in): which
/// connections may stay open, which must go to make room, and which have overstayed their phase.
///
/// - A new connection is always admitted when a cap is reached, by shedding an unauthenticated one:
///   at the per-source cap the oldest unauthenticated connection of that same source; at the global cap
///   the oldest unauthenticated connection of the source holding the most. So a flood from some
///   sources sheds its own connections, never a stranger's, and never an exchange that authenticated.
///   Only when every candidate has authenticated is the new connection refused.
/// - Each phase has a deadline counted from accept: the first octets, the TLS handshake, the exchange;
///   an authenticated exchange gets ``ControllerLimits/lingerSeconds`` from its authentication.
public struct ConnectionAdmission: Sendable {
    public typealias ID = UInt64

    public enum Phase: Sendable, Hashable {
        /// Accepted; nothing received yet.
        case awaitingFirstRecord
        /// The TLS handshake is under way.
        case handshaking
        /// TLS is up; the PSK exchange is under way (not authenticated yet).
        case exchanging
        /// The MN authenticated and was answered; the connection is closing. Never shed.
        case authenticated
    }

    public enum Refusal: String, Sendable, Hashable {
        /// The source's connections have all authenticated (cannot happen with a sane per-source cap).
        case sourceLimit = "per-source connection limit"
        case globalLimit = "connection limit"
    }

    /// Why a connection was shed or timed out, as the log summary and the counters name it.
    public enum Reason: String, Sendable, Hashable, CaseIterable {
        case shedSourceLimit = "shed: per-source connection limit"
        case shedGlobalLimit = "shed: connection limit"
        case firstRecordTimeout = "timeout: nothing received"
        case handshakeTimeout = "timeout: TLS handshake"
        case exchangeTimeout = "timeout: exchange"
        case lingerTimeout = "timeout: close"
    }

    /// A connection the policy closes: shed for room, or past its phase's deadline.
    public struct Closure: Sendable, Hashable {
        public let id: ID
        public let reason: Reason
        public init(_ id: ID, _ reason: Reason) {
            self.id = id
            self.reason = reason
        }
    }

    public enum Decision: Sendable, Hashable {
        /// Admitted as `id`; the connections in `shed` must be closed first.
        case admit(ID, shed: [Closure])
        case refuse(Refusal)
    }

    struct Entry: Sendable {
        let source: ConnectionSource
        let accepted: UInt64
        var phase: Phase
        var deadline: UInt64
    }

    public let limits: ControllerLimits
    private var entries: [ID: Entry] = [:]
    /// Each source's connections, oldest first.
    private var bySource: [ConnectionSource: [ID]] = [:]
    private var nextID: ID = 1

    public init(limits: ControllerLimits) { self.limits = limits }

    public var count: Int { entries.count }
    public func count(from source: ConnectionSource) -> Int { bySource[source]?.count ?? 0 }
    public func phase(of id: ID) -> Phase? { entries[id]?.phase }

    /// Admits a connection accepted at `now` from `source`, shedding what the caps require.
    public mutating func admit(_ source: ConnectionSource, now: UInt64) -> Decision {
        var shed: [Closure] = []
        if count(from: source) >= max(limits.maximumConnectionsPerSource, 1) {
            guard let victim = oldestUnauthenticated(of: source) else { return .refuse(.sourceLimit) }
            remove(victim)
            shed.append(Closure(victim, .shedSourceLimit))
        }
        if entries.count >= max(limits.maximumConnections, 1) {
            guard let victim = heaviestSourceVictim() else { return .refuse(.globalLimit) }
            remove(victim)
            shed.append(Closure(victim, .shedGlobalLimit))
        }
        let id = nextID
        nextID &+= 1
        entries[id] = Entry(
            source: source, accepted: now, phase: .awaitingFirstRecord,
            deadline: now &+ Self.nanoseconds(limits.firstRecordSeconds))
        bySource[source, default: []].append(id)
        return .admit(id, shed: shed)
    }

    /// Moves `id` to `phase` (forward only) and sets that phase's deadline.
    public mutating func advance(_ id: ID, to phase: Phase, now: UInt64) {
        guard var entry = entries[id], Self.rank(phase) > Self.rank(entry.phase) else { return }
        entry.phase = phase
        entry.deadline =
            switch phase {
            case .awaitingFirstRecord: entry.accepted &+ Self.nanoseconds(limits.firstRecordSeconds)
            case .handshaking: entry.accepted &+ Self.nanoseconds(limits.handshakeSeconds)
            case .exchanging: entry.accepted &+ Self.nanoseconds(limits.exchangeSeconds)
            case .authenticated: now &+ Self.nanoseconds(ControllerLimits.lingerSeconds)
            }
        entries[id] = entry
    }

    /// Forgets a connection that closed.
    public mutating func remove(_ id: ID) {
        guard let entry = entries.removeValue(forKey: id) else { return }
        bySource[entry.source]?.removeAll { $0 == id }
        if bySource[entry.source]?.isEmpty == true { bySource[entry.source] = nil }
    }

    /// The connections whose phase deadline has passed at `now`, with why, forgotten here; and the
    /// earliest deadline of those that remain (nil when none).
    public mutating func expire(now: UInt64) -> (expired: [Closure], next: UInt64?) {
        var expired: [Closure] = []
        var next: UInt64?
        for (id, entry) in entries {
            if entry.deadline <= now {
                expired.append(Closure(id, Self.timeoutReason(entry.phase)))
            } else {
                next = min(next ?? .max, entry.deadline)
            }
        }
        for closure in expired { remove(closure.id) }
        return (expired.sorted { $0.id < $1.id }, next)
    }

    private func oldestUnauthenticated(of source: ConnectionSource) -> ID? {
        bySource[source]?.first { entries[$0]?.phase != .authenticated }
    }

    /// The oldest unauthenticated connection of the source with the most connections (ties: the source
    /// whose candidate is oldest).
    private func heaviestSourceVictim() -> ID? {
        var best: (count: Int, id: ID)?
        for (source, ids) in bySource {
            guard let candidate = oldestUnauthenticated(of: source) else { continue }
            if let current = best, current.count > ids.count || (current.count == ids.count && current.id < candidate) {
                continue
            }
            best = (ids.count, candidate)
        }
        return best?.id
    }

    private static func rank(_ phase: Phase) -> Int {
        switch phase {
        case .awaitingFirstRecord: 0
        case .handshaking: 1
        case .exchanging: 2
        case .authenticated: 3
        }
    }

    private static func timeoutReason(_ phase: Phase) -> Reason {
        switch phase {
        case .awaitingFirstRecord: .firstRecordTimeout
        case .handshaking: .handshakeTimeout
        case .exchanging: .exchangeTimeout
        case .authenticated: .lingerTimeout
        }
    }

    static func nanoseconds(_ seconds: Double) -> UInt64 {
        seconds <= 0 ? 0 : seconds >= 1e9 ? 1_000_000_000 * 1_000_000_000 : UInt64(seconds * 1e9)
    }
}
