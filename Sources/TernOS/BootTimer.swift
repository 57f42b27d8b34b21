internal import CTernOS
#if canImport(Glibc)
import Glibc
#endif

/// A one-shot timer on CLOCK_BOOTTIME that a poller waits on beside sockets. Unlike a poll timeout
/// (CLOCK_MONOTONIC, which stops while the machine is suspended), it fires at resume when its deadline
/// passed during the sleep — so a refresh that was due wakes the daemon at once, and an idle daemon needs
/// no periodic wake-ups to notice a suspend.
public final class BootTimer: @unchecked Sendable {
    public let descriptor: FileDescriptor

    public init() throws(SystemCallError) {
        descriptor = FileDescriptor(taking: try SystemCall.call("timerfd_create(CLOCK_BOOTTIME)") { tern_boottime_timer() })
    }

    /// Fires once at `bootTime` (nanoseconds of ``bootTimeNanoseconds()``); nil disarms it.
    public func arm(at bootTime: UInt64?) {
        // 0 disarms a timerfd; a deadline already past is moved to 1 ns so that it fires at once.
        let value = bootTime.map { max($0, 1) } ?? 0
        _ = try? SystemCall.call("timerfd_settime") { tern_timer_arm(descriptor.rawValue, value) }
    }

    /// Clears the expiry count after the timer fired.
    public func drain() {
        var expirations: UInt64 = 0
        _ = try? SystemCall.nonBlocking("read timerfd") { read(descriptor.rawValue, &expirations, 8) }
    }
}
