import TernProtocol

/// Online PSK guessing is slowed down (issue 13, item 5; docs/hac.md, "Guessing"). Pure: time comes in
/// as seconds (wall clock, as `retry-after` is an HTTP date), the caller acts on the verdicts.
///
/// Failures (401: wrong PSK or unknown identity, which look the same) are counted three ways:
/// - per (identity, source) and per source — hard: past a few free failures, further attempts are
///   refused before the key is tried, with 503 and `retry-after`, for a time that doubles with each
///   failure up to ``Limits/maximumBlockSeconds``;
/// - per identity, from every source — soft: a failure's 401 is delayed, never an attempt refused, so
///   an attacker elsewhere cannot lock out the MN that has the key (a success is never delayed).
/// A source that has succeeded for an identity before is never refused for that identity: the attempt
/// is always evaluated (its failures are still delayed, and counted for the source).
/// The tables are bounded (``Limits/maximumEntries``): the stalest entries go first.
public struct AuthenticationThrottle: Sendable {
    public struct Limits: Sendable, Hashable {
        /// Failures of one identity from one source before attempts are refused.
        public var freeFailuresPerIdentityAndSource = 3
        /// Failures from one source, whatever the identity, before its attempts are refused.
        public var freeFailuresPerSource = 10
        /// The first refusal's length; each further failure doubles it.
        public var firstBlockSeconds = 2.0
        public var maximumBlockSeconds = 300.0
        /// Failures of one identity (all sources) before its 401s are delayed; the delay doubles from
        /// ``firstDelaySeconds`` up to ``maximumDelaySeconds`` (below the exchange deadline).
        public var freeFailuresPerIdentity = 5
        public var firstDelaySeconds = 0.25
        public var maximumDelaySeconds = 4.0
        /// Failure counts are forgotten after this long without a failure.
        public var forgetSeconds = 900.0
        /// Successful (identity, source) pairs are remembered this long.
        public var trustSeconds = 86_400.0
        /// Entries per table.
        public var maximumEntries = 4096

        public init() {}
    }

    public enum Verdict: Sendable, Hashable {
        /// Try the key; if it fails, answer the 401 after this many seconds (0: at once).
        case evaluate(delayFailureSeconds: Double)
        /// Do not try the key: answer 503 with `retry-after` this many seconds from now.
        case refuse(retryAfterSeconds: Double)
    }

    struct Record: Sendable {
        var failures: Int
        var lastFailure: Double
        var blockedUntil: Double
    }

    struct Pair: Hashable, Sendable {
        let identity: String
        let source: ConnectionSource
    }

    public let limits: Limits
    private var pairs: [Pair: Record] = [:]
    private var sources: [ConnectionSource: Record] = [:]
    private var identities: [String: Record] = [:]
    /// When each (identity, source) last succeeded.
    private var trusted: [Pair: Double] = [:]

    public init(limits: Limits = Limits()) { self.limits = limits }

    public func verdict(identity: String, source: ConnectionSource, now: Double) -> Verdict {
        let pair = Pair(identity: identity, source: source)
        let delay = softDelay(identities[identity], now: now)
        if let last = trusted[pair], now - last < limits.trustSeconds { return .evaluate(delayFailureSeconds: delay) }
        let until = max(live(pairs[pair], now)?.blockedUntil ?? 0, live(sources[source], now)?.blockedUntil ?? 0)
        if until > now { return .refuse(retryAfterSeconds: until - now) }
        return .evaluate(delayFailureSeconds: delay)
    }

    public mutating func recordFailure(identity: String, source: ConnectionSource, now: Double) {
        let pair = Pair(identity: identity, source: source)
        pairs[pair] = failed(pairs[pair], free: limits.freeFailuresPerIdentityAndSource, now: now)
        sources[source] = failed(sources[source], free: limits.freeFailuresPerSource, now: now)
        identities[identity] = failed(identities[identity], free: .max, now: now)
        Self.bound(&pairs, limits.maximumEntries)
        Self.bound(&sources, limits.maximumEntries)
        Self.bound(&identities, limits.maximumEntries)
    }

    public mutating func recordSuccess(identity: String, source: ConnectionSource, now: Double) {
        let pair = Pair(identity: identity, source: source)
        pairs[pair] = nil
        identities[identity] = nil
        trusted[pair] = now
        if trusted.count > limits.maximumEntries, let oldest = trusted.min(by: { $0.value < $1.value }) {
            trusted[oldest.key] = nil
        }
    }

    private func live(_ record: Record?, _ now: Double) -> Record? {
        guard let record, now - record.lastFailure < limits.forgetSeconds else { return nil }
        return record
    }

    private func failed(_ record: Record?, free: Int, now: Double) -> Record {
        var record = live(record, now) ?? Record(failures: 0, lastFailure: now, blockedUntil: 0)
        record.failures += 1
        record.lastFailure = now
        if record.failures > free {
            let doublings = Double(min(record.failures - free - 1, 30))
            let block = min(limits.firstBlockSeconds * Self.power(doublings), limits.maximumBlockSeconds)
            record.blockedUntil = max(record.blockedUntil, now + block)
        }
        return record
    }

    private func softDelay(_ record: Record?, now: Double) -> Double {
        guard let record = live(record, now), record.failures >= limits.freeFailuresPerIdentity else { return 0 }
        let doublings = Double(min(record.failures - limits.freeFailuresPerIdentity, 30))
        return min(limits.firstDelaySeconds * Self.power(doublings), limits.maximumDelaySeconds)
    }

    private static func power(_ doublings: Double) -> Double {
        var value = 1.0
        for _ in 0..<Int(doublings) { value *= 2 }
        return value
    }

    private static func bound<Key>(_ table: inout [Key: Record], _ limit: Int) {
        guard table.count > limit, let stalest = table.min(by: { $0.value.lastFailure < $1.value.lastFailure }) else { return }
        table[stalest.key] = nil
    }
}
