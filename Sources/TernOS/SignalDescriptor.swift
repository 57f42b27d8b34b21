internal import CTernOS
#if canImport(Glibc)
import Glibc
#endif

/// Signals read from a descriptor (signalfd(2)) instead of caught by a handler: a daemon's main thread
/// waits for them in `poll` beside its other descriptors and handles them as ordinary events, with no
/// async-signal-safety rules and no thread of Swift concurrency's pool.
///
/// The signals are blocked in the thread that creates this, and every thread that thread creates later
/// inherits the mask; a thread created earlier (or by a library with a mask of its own) would still take
/// them with their default action, which for SIGTERM is to end the process without any cleanup. Create
/// it first, before any other thread, and check with ``threadsNotBlocking(_:)`` once everything runs.
///
/// Child processes inherit the blocked mask too (posix_spawn and fork keep it): a child that must be
/// stoppable by these signals has to unblock them itself.
public final class SignalDescriptor: @unchecked Sendable {
    public let descriptor: FileDescriptor
    public let signals: [Int32]

    public init(blocking signals: [Int32]) throws(SystemCallError) {
        self.signals = signals
        let fd = try signals.withUnsafeBufferPointer { (buffer) throws(SystemCallError) in
            try SystemCall.call("signalfd") { tern_signalfd_open(buffer.baseAddress, Int32(buffer.count)) }
        }
        descriptor = FileDescriptor(taking: fd)
    }

    /// The next pending signal's number, or nil when none is pending.
    public func next() throws(SystemCallError) -> Int32? {
        try SystemCall.nonBlocking("read signalfd") { tern_signalfd_read(descriptor.rawValue) }
    }

    /// The threads of this process (`tid name`) that do not block every one of `signals`, from
    /// /proc/self/task/*/status (SigBlk): empty when the signals can only arrive through the descriptor.
    public static func threadsNotBlocking(_ signals: [Int32]) throws(SystemCallError) -> [String] {
        var wanted: UInt64 = 0
        for signal in signals where (1...64).contains(signal) { wanted |= 1 << UInt64(signal - 1) }
        var found: [String] = []
        for thread in try ThreadStatus.all() {
            guard let field = thread.field("SigBlk"), let blocked = UInt64(field, radix: 16) else {
                throw SystemCallError("parse SigBlk of /proc/self/task/\(thread.id)/status", errno: EINVAL)
            }
            if blocked & wanted != wanted { found.append("\(thread.id) \(thread.field("Name") ?? "?")") }
        }
        return found
    }
}

/// One thread's /proc/self/task/TID/status, as text: `Name: value` lines.
public struct ThreadStatus: Sendable {
    /// The thread id (a directory name under /proc/self/task).
    public let id: String
    public let text: String

    /// The value of the line `name:` with surrounding blanks removed, if there is one.
    public func field(_ name: String) -> String? {
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":"), line[..<colon] == name else { continue }
            return String(line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" })
        }
        return nil
    }

    /// Every thread of this process; a thread that ends while the directory is read is left out.
    public static func all() throws(SystemCallError) -> [ThreadStatus] {
        guard let tasks = opendir("/proc/self/task") else { throw SystemCallError("opendir /proc/self/task", errno: errno) }
        defer { closedir(tasks) }
        var threads: [ThreadStatus] = []
        while let entry = readdir(tasks) {
            let tid = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard Int(tid) != nil, let text = readSmallFile("/proc/self/task/\(tid)/status") else { continue }
            threads.append(ThreadStatus(id: tid, text: text))
        }
        guard !threads.isEmpty else { throw SystemCallError("read /proc/self/task/*/status", errno: ENOENT) }
        return threads
    }

    private static func readSmallFile(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = (try? SystemCall.call("read \(path)") { read(descriptor, &chunk, chunk.count) }) ?? 0
            if count <= 0 { break }
            bytes += chunk.prefix(count)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
