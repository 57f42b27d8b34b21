/// The sender's per-direction sequence counter (RFC 4303 §3.3.3, DESIGN.md "Decision — sequence numbers").
///
/// The counter starts at 0, so the first protected packet carries 1; 0 is never sent. It never wraps:
/// past ``softLimit`` every allocation says a new SA is due, and after 2^32 − 1 has been sent the
/// counter refuses (``Exhausted``) rather than cycle.
///
/// A value type with no locks: one sending thread owns it.
public struct OutboundSequenceNumber: Sendable, Hashable {
    /// From this value on, the sender asks for a new SA (DESIGN.md: soft limit 2^31).
    public static let softLimit: UInt32 = 1 << 31
    /// The last value that may ever be sent under one SA (DESIGN.md: hard stop at 2^32 − 1).
    public static let hardLimit: UInt32 = .max

    /// Thrown once 2^32 − 1 has been sent: sending again would cycle the counter (RFC 4303 §3.3.3).
    public struct Exhausted: Error, Hashable, Sendable, CustomStringConvertible {
        public var description: String {
            "the SA's sequence numbers are exhausted (2^32 - 1 sent); a new SA is required"
        }
    }

    /// The number most recently handed out; 0 before the first.
    public private(set) var lastSent: UInt32

    /// A counter whose first allocation is `lastSent + 1`. A restored SA resumes past its persisted
    /// reservation so that no number is reused (DESIGN.md: SA restored after a restart).
    public init(lastSent: UInt32 = 0) {
        self.lastSent = lastSent
    }

    /// The next number to put on the wire.
    @inline(__always)
    public mutating func next() throws(Exhausted) -> UInt32 {
        guard lastSent < Self.hardLimit else { throw Exhausted() }
        lastSent &+= 1
        return lastSent
    }

    /// True once the counter has reached the soft limit: the SA should be replaced (HAC re-contact,
    /// REINIT_SA_WITH_HAC) while it can still carry traffic.
    public var isPastSoftLimit: Bool { lastSent >= Self.softLimit }

    /// How many more packets this SA may carry.
    public var remaining: UInt32 { Self.hardLimit - lastSent }
}
