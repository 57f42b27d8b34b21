internal import CTernOS
#if canImport(Glibc)
import Glibc
#endif

/// An epoll(7) instance: one thread waits on many descriptors at a cost that does not grow with how
/// many are registered (poll(2) scans every descriptor on every wait). The controller's event loop
/// (thousands of connections, most idle) is what needs it.
///
/// Each descriptor is registered with a caller-chosen 64-bit token that comes back with its events.
/// Level-triggered. Thread safety: one thread waits; registration is from that thread too.
public final class EventPoll {
    public struct Interest: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let readable = Interest(rawValue: UInt32(TERN_EPOLLIN))
        public static let writable = Interest(rawValue: UInt32(TERN_EPOLLOUT))
    }

    /// One ready descriptor: its token, and whether it is readable, writable, or hung up / in error
    /// (which the next read or write reports).
    public struct Ready: Sendable {
        public let token: UInt64
        public let events: UInt32
        public var isReadable: Bool { events & UInt32(TERN_EPOLLIN | TERN_EPOLLHUP | TERN_EPOLLERR) != 0 }
        public var isWritable: Bool { events & UInt32(TERN_EPOLLOUT | TERN_EPOLLERR) != 0 }
    }

    /// Events one wait returns at most (the shim's own batch).
    public static let batch = 256

    private let descriptor: FileDescriptor
    private var tokens = [UInt64](repeating: 0, count: EventPoll.batch)
    private var events = [UInt32](repeating: 0, count: EventPoll.batch)

    public init() throws(SystemCallError) {
        descriptor = FileDescriptor(taking: try SystemCall.call("epoll_create1") { tern_epoll_create() })
    }

    public func add(_ fd: Int32, token: UInt64, interest: Interest = .readable) throws(SystemCallError) {
        _ = try SystemCall.call("epoll_ctl ADD \(fd)") {
            tern_epoll_ctl(descriptor.rawValue, TERN_EPOLL_CTL_ADD, fd, interest.rawValue, token)
        }
    }

    public func modify(_ fd: Int32, token: UInt64, interest: Interest) throws(SystemCallError) {
        _ = try SystemCall.call("epoll_ctl MOD \(fd)") {
            tern_epoll_ctl(descriptor.rawValue, TERN_EPOLL_CTL_MOD, fd, interest.rawValue, token)
        }
    }

    /// Unregisters `fd` (closing it does too; this is for a descriptor that stays open).
    public func remove(_ fd: Int32) {
        _ = try? SystemCall.nonBlocking("epoll_ctl DEL \(fd)") {
            tern_epoll_ctl(descriptor.rawValue, TERN_EPOLL_CTL_DEL, fd, 0, 0)
        }
    }

    /// Waits up to `timeoutMilliseconds` (−1: no limit) and returns what is ready (empty on timeout).
    public func wait(timeoutMilliseconds: Int32) throws(SystemCallError) -> [Ready] {
        let count = try tokens.withUnsafeMutableBufferPointer { tokens in
            events.withUnsafeMutableBufferPointer { events in
                capturing { () throws(SystemCallError) -> Int32 in
                    try SystemCall.call("epoll_wait") {
                        tern_epoll_wait(
                            descriptor.rawValue, tokens.baseAddress, events.baseAddress, Int32(EventPoll.batch),
                            timeoutMilliseconds)
                    }
                }
            }
        }.get()
        return (0..<Int(count)).map { Ready(token: tokens[$0], events: events[$0]) }
    }
}

/// RLIMIT_NOFILE (getrlimit(2)): how many descriptors the process may hold.
public enum OpenFileLimit {
    /// Raises the soft limit to the hard limit (a daemon holding many connections needs more than the
    /// usual 1024) and returns both limits after the change.
    public static func raiseToHardLimit() throws(SystemCallError) -> (soft: UInt64, hard: UInt64) {
        var soft: UInt64 = 0
        var hard: UInt64 = 0
        _ = try SystemCall.call("setrlimit RLIMIT_NOFILE") { tern_raise_nofile_limit(&soft, &hard) }
        return (soft, hard)
    }
}

@inline(__always)
private func capturing<Success, Failure: Error>(_ body: () throws(Failure) -> Success) -> Result<Success, Failure> {
    do {
        return .success(try body())
    } catch {
        return .failure(error)
    }
}
