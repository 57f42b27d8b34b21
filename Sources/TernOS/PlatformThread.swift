internal import CTernOS
#if canImport(Glibc)
import Glibc
#endif

/// A dedicated OS thread for a data-plane loop: the hot path runs on threads of its own, not on Swift
/// concurrency's cooperative pool, so a blocking `poll` never starves async work.
public final class PlatformThread: @unchecked Sendable {
    private let handle: pthread_t
    public let name: String

    private final class Box {
        let body: @Sendable () -> Void
        let name: String
        init(_ body: @escaping @Sendable () -> Void, name: String) {
            self.body = body
            self.name = name
        }
    }

    /// Starts `body` on a new thread named `name` (at most 15 characters are kept, as Linux allows).
    public init(name: String, _ body: @escaping @Sendable () -> Void) throws(SystemCallError) {
        let box = Unmanaged.passRetained(Box(body, name: name))
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { argument in
            guard let argument else { return nil }
            let box = Unmanaged<Box>.fromOpaque(argument).takeRetainedValue()
            _ = tern_set_thread_name(box.name)
            box.body()
            return nil
        }, box.toOpaque())
        guard result == 0 else {
            box.release()
            throw SystemCallError("pthread_create \(name)", errno: result)
        }
        handle = thread
        self.name = name
    }

    /// Waits for the thread to finish. Call once.
    public func join() {
        _ = pthread_join(handle, nil)
    }
}

/// Monotonic time in nanoseconds (CLOCK_MONOTONIC), for schedules that take time as a value.
@inline(__always)
public func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// Nanoseconds of CLOCK_BOOTTIME: like the monotonic clock, but it keeps counting while the machine is
/// suspended. The gap between the two growing is how a daemon learns it was asleep.
public func bootTimeNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_BOOTTIME, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// Seconds since 1970 (CLOCK_REALTIME), for records people read; never for timers.
public func wallClockSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}
