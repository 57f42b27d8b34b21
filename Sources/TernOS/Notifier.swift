internal import CTernOS
#if canImport(Glibc)
import Glibc
#endif

/// An eventfd that one thread signals to wake another out of `poll` (shutdown, new work).
public final class Notifier: @unchecked Sendable {
    public let descriptor: FileDescriptor

    public init() throws(SystemCallError) {
        let fd = try SystemCall.call("eventfd") { tern_eventfd() }
        descriptor = FileDescriptor(taking: fd)
    }

    /// Wakes every poller of this notifier until ``drain()``; safe from any thread.
    public func signal() {
        var one: UInt64 = 1
        _ = try? SystemCall.nonBlocking("write eventfd") { write(descriptor.rawValue, &one, 8) }
    }

    /// Clears the signal.
    public func drain() {
        var value: UInt64 = 0
        _ = try? SystemCall.nonBlocking("read eventfd") { read(descriptor.rawValue, &value, 8) }
    }
}

/// Waits for any of a fixed set of descriptors to become readable (poll(2)). Its `pollfd` array is
/// allocated once; a wait allocates nothing.
public final class Poller {
    private let entries: UnsafeMutableBufferPointer<pollfd>

    public init(_ descriptors: [Int32]) {
        entries = .allocate(capacity: max(descriptors.count, 1))
        for (index, fd) in descriptors.enumerated() {
            entries[index] = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        }
        count = descriptors.count
    }

    public let count: Int

    deinit { entries.deallocate() }

    /// Waits up to `timeoutMilliseconds` (−1: no limit). Returns false on timeout; then
    /// ``isReadable(_:)`` says which descriptors, by position, are ready.
    @discardableResult
    public func wait(timeoutMilliseconds: Int32) throws(SystemCallError) -> Bool {
        for index in 0..<count { entries[index].revents = 0 }
        let ready = try SystemCall.call("poll") { poll(entries.baseAddress, nfds_t(count), timeoutMilliseconds) }
        return ready > 0
    }

    public func isReadable(_ index: Int) -> Bool {
        entries[index].revents & Int16(POLLIN | POLLERR | POLLHUP) != 0
    }
}
