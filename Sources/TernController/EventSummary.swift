/// Turns a flood of per-connection events into a bounded number of log lines (issue 13, item 4: one
/// line per refused connection made the log an amplifier). Pure: time comes in as a value.
///
/// Events are counted per (source, reason) over a window. The first event of each *reason* in a window
/// is logged in full (``record(source:reason:now:)`` returns true), so a single failure still shows at
/// once with its detail. At the window's end come at most ``maximumSourceLines`` lines for the
/// (source, reason) pairs with the most events (two or more), and one line per reason for the rest
/// ("other sources"). Reasons are a small fixed set (the controller's categories), so a window writes a
/// few dozen lines at most, however many sources an attacker uses.
public struct EventSummary: Sendable {
    /// One summary line's content.
    public struct Line: Sendable, Hashable, CustomStringConvertible {
        /// nil: the events of every source without a line of its own.
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
    /// Per-source lines a window ends with, at most.
    public static let maximumSourceLines = 16
    /// (source, reason) pairs counted per window; events of further pairs count only for their reason.
    public static let maximumKeys = 4096

    private struct Key: Hashable, Sendable, Comparable {
        let source: String
        let reason: String
        static func < (lhs: Key, rhs: Key) -> Bool { (lhs.source, lhs.reason) < (rhs.source, rhs.reason) }
    }

    public let windowNanoseconds: UInt64
    private var windowStart: UInt64?
    private var counts: [Key: Int] = [:]
    /// Every event of each reason this window, and the pair whose event was logged in full.
    private var totals: [String: Int] = [:]
    private var loggedInFull: [String: Key] = [:]

    public init(windowNanoseconds: UInt64 = Self.defaultWindowNanoseconds) {
        self.windowNanoseconds = max(windowNanoseconds, 1)
    }

    /// Counts one event; true when it is the first of its reason in this window (log it in full).
    public mutating func record(source: String, reason: String, now: UInt64) -> Bool {
        if windowStart == nil { windowStart = now }
        let key = Key(source: source, reason: reason)
        totals[reason, default: 0] += 1
        if let count = counts[key] {
            counts[key] = count + 1
        } else if counts.count < Self.maximumKeys {
            counts[key] = 1
        }
        guard loggedInFull[reason] == nil else { return false }
        loggedInFull[reason] = key
        return true
    }

    /// When the current window ends (nil: nothing counted); the caller wakes then for ``flush(now:)``.
    public var nextFlush: UInt64? { windowStart.map { $0 &+ windowNanoseconds } }

    /// The summary lines once the window has ended, and a fresh window; empty before the window's end.
    public mutating func flush(now: UInt64) -> [Line] {
        guard let end = nextFlush, now >= end else { return [] }
        let seconds = Int(windowNanoseconds / 1_000_000_000)
        let shown = counts.filter { $0.value > 1 }
            .sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .prefix(Self.maximumSourceLines)
        var lines = shown.map { Line(source: $0.key.source, reason: $0.key.reason, count: $0.value, seconds: seconds) }
        let shownKeys = Set(shown.map(\.key))
        for (reason, total) in totals.sorted(by: { $0.key < $1.key }) {
            var rest = total - shown.filter { $0.key.reason == reason }.reduce(0) { $0 + $1.value }
            if let logged = loggedInFull[reason], !shownKeys.contains(logged) { rest -= 1 }
            if rest > 0 { lines.append(Line(source: nil, reason: reason, count: rest, seconds: seconds)) }
        }
        counts = [:]
        totals = [:]
        loggedInFull = [:]
        windowStart = nil
        return lines
    }
}
