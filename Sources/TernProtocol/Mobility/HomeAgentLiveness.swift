// Whether the Home Agent still knows the Mobile Node's SA (issue 13 item 6). An HA that lost the SA (it
// was retired or revoked, or a restart without it) cannot answer at all: it has no key to authenticate
// a Binding Acknowledgement or Binding Error with, and drops everything under the SPI. So the signal is
// silence: user data goes out and nothing authenticated comes back, then Binding Updates go unanswered.
// Nothing a stranger sends can make it fire (a forged datagram fails its ICV and is not "an answer" to
// count, nor can it make an answer go missing); an on-path attacker who drops everything can, but that
// attacker has cut the tunnel anyway, and the Mobile Node's response (register again, re-bootstrap with
// the HAC, make before break) drops no working SA. A value: counters and events in, decisions out.

/// Notices a Home Agent that no longer answers the Mobile Node.
public struct HomeAgentLiveness: Sendable, Hashable {
    /// Binding Updates in a row without an authenticated answer after which the HA is taken to have lost
    /// the binding and the SA: with the RFC 6275 backoff (1 s, 2 s, 4 s) about 7 s of silence.
    public static let unansweredLimit = 3
    /// How often the traffic counters are compared while user data flows.
    public static let checkInterval: UInt64 = 5_000_000_000
    /// How often while the tunnel is idle: one look per default keepalive interval, when the data plane
    /// wakes for the keepalive anyway (DESIGN.md: idle is idle).
    public static let idleCheckInterval: UInt64 = 25_000_000_000
    /// Checks in a row that saw user data go out and none come in before a Binding Update probes the HA.
    public static let silentChecks = 2

    private var sent: UInt64 = 0
    private var received: UInt64 = 0
    private var silent = 0
    /// Binding Updates sent since the last authenticated answer from the HA.
    public private(set) var unanswered = 0

    public init() {}

    /// A Binding Update went out. True when ``unansweredLimit`` earlier ones went unanswered: the HA no
    /// longer knows this SA (the count starts again).
    public mutating func bindingUpdateSent() -> Bool {
        if unanswered >= Self.unansweredLimit {
            unanswered = 1
            return true
        }
        unanswered += 1
        return false
    }

    /// An authenticated Binding Acknowledgement or Binding Error arrived: the HA knows the SA.
    public mutating func answered() {
        unanswered = 0
        silent = 0
    }

    /// Compares the data plane's counters of user packets sent and (authenticated) received with the last
    /// check. True when a Binding Update should probe the HA: data went out for ``silentChecks`` checks in
    /// a row and none came back. `idle` (for the next interval): nothing went out since the last check.
    public mutating func check(packetsSent: UInt64, packetsReceived: UInt64) -> (probe: Bool, idle: Bool) {
        defer {
            sent = packetsSent
            received = packetsReceived
        }
        let idle = packetsSent == sent
        if packetsReceived != received || idle {
            if packetsReceived != received { silent = 0 }
            return (false, idle)
        }
        silent += 1
        guard silent >= Self.silentChecks else { return (false, false) }
        silent = 0
        return (true, false)
    }
}
