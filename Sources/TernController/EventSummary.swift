/// Turns a flood of per-connection events into a bounded number of log lines (issue 13, item 4: one
/// line per refused connection made the log an amplifier). Pure: time comes in as a value.
///
/// Events are counted per (source, reason) over a window. The first event of a key in a window is
/// logged in full (``record(source:reason:now:)`` returns true), so a single failure still shows at
/// once with its detail; the window's end yields one line per key that had more, with the count. At
/// most ``maximumKeys`` keys are tracked per window; events of further keys go into one "other
/// sources" count. So a window writes at most 2 × maximumKeys + 1 lines, whatever the attacker does.
public struct EventSummary: Sendable {
    /// One summary line's content.
    public struct Line: Sendable, Hashable, CustomStringConvertible {
        /// nil: the events of keys past ``maximumKeys``.
        public let source: String?
        public let reason: String
        public let count: Int
        public let seconds: Int

        public var description: String {
            let formatted = Self.grouped(count)
            if let source { return "\(formatted) connections from \(source) in \(seconds) s: \(reason)" }
            return "\(formatted) connections from other sources in \(seconds) s: \(reason)"
        }

        /// 12408 as "12,408".
        static func grouped(_ value: Int) -> String {
            let digits = Array(String(value.magnitude))
            var text = ""
            for (index, digit) in digits.enumerated() {
                if index > 0, (digits.count - index) % 3 == 0 { text.append(",") }
                text.append(digit)
            }
            return (value < 0 ? "-" : "") + text
        }
    }

    /// The window's length: ten seconds, as issue 13 suggests.
    public static let defaultWindowNanoseconds: UInt64 = 10_000_000_000
    /// Keys tracked per window (sources × reasons).
    public static let maximumKeys = 256

    private struct Key: Hashable, Sendable {
        let source: String
        let reason: String
    }

    public let windowNanoseconds: UInt64
    private var windowStart: UInt64?
    private var counts: [Key: Int] = [:]
    private var overflow: [String: Int] = [:]

    public init(windowNanoseconds: UInt64 = Self.defaultWindowNanoseconds) {
        self.windowNanoseconds = max(windowNanoseconds, 1)
    }

    /// Counts one event; true when it is the first of its key in this window (log it in full).
    public mutating func record(source: String, reason: String, now: UInt64) -> Bool {
        if windowStart == nil { windowStart = now }
        let key = Key(source: source, reason: reason)
        if let count = counts[key] {
            counts[key] = count + 1
            return false
        }
        guard counts.count < Self.maximumKeys else {
            overflow[reason, default: 0] += 1
            return false
        }
        counts[key] = 1
        return true
    }

    /// When the current window ends (nil: nothing counted); the caller wakes then for ``flush(now:)``.
    public var nextFlush: UInt64? { windowStart.map { $0 &+ windowNanoseconds } }

    /// The summary lines once the window has ended (keys seen more than once, then the overflow), and a
    /// fresh window; empty before the window's end.
    public mutating func flush(now: UInt64) -> [Line] {
        guard let end = nextFlush, now >= end else { return [] }
        let seconds = Int(windowNanoseconds / 1_000_000_000)
        var lines = counts.filter { $0.value > 1 }
            .map { Line(source: $0.key.source, reason: $0.key.reason, count: $0.value, seconds: seconds) }
            .sorted { ($0.count, $1.source ?? "", $1.reason) > ($1.count, $0.source ?? "", $0.reason) }
        lines += overflow.sorted { $0.key < $1.key }.map { Line(source: nil, reason: $0.key, count: $0.value, seconds: seconds) }
        counts = [:]
        overflow = [:]
        windowStart = nil
        return lines
    }
}
