#if canImport(Glibc)
import Glibc
#endif

/// A system call failed. Carries the call's name and errno, so a log line says what went wrong where.
public struct SystemCallError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The call, e.g. `recvmmsg` or `bind [::]:7872`.
    public let call: String
    public let errno: Int32

    public init(_ call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    public var description: String { "\(call) failed: \(explanation)" }

    /// What errno says, without the call: `No such file or directory (errno 2)`.
    public var explanation: String { "\(String(cString: strerror(errno))) (errno \(errno))" }
}

/// The one wrapper every system call in Tern goes through (CONVENTIONS.md, "One home for the OS").
///
/// EINTR is retried. EAGAIN/EWOULDBLOCK is "would block" (nil) for the non-blocking form. EBADF and
/// EFAULT mean Tern passed a bad descriptor or pointer: a bug in Tern, never the network's doing, so
/// they stop the process with the call's name rather than being reported as an I/O error.
public enum SystemCall {
    /// Runs `body`, a call that returns −1 and sets errno on failure. Returns nil when it would block.
    @inline(__always)
    public static func nonBlocking<Result: BinaryInteger>(
        _ name: @autoclosure () -> String, _ body: () -> Result
    ) throws(SystemCallError) -> Result? {
        while true {
            let result = body()
            if result != -1 { return result }
            let code = Glibc.errno
            switch code {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return nil
            case EBADF, EFAULT: preconditionFailure("\(name()) failed with errno \(code): a bug in Tern")
            default: throw SystemCallError(name(), errno: code)
            }
        }
    }

    /// Runs `body` as ``nonBlocking(_:_:)`` does, but treats "would block" as an error too.
    @inline(__always)
    public static func call<Result: BinaryInteger>(
        _ name: @autoclosure () -> String, _ body: () -> Result
    ) throws(SystemCallError) -> Result {
        guard let result = try nonBlocking(name(), body) else {
            throw SystemCallError(name(), errno: EAGAIN)
        }
        return result
    }
}

/// A file descriptor that closes itself once, when its owner goes away.
public final class FileDescriptor: @unchecked Sendable {
    /// The raw descriptor; valid while this object lives.
    public let rawValue: Int32

    public init(taking rawValue: Int32) {
        self.rawValue = rawValue
    }

    deinit {
        // close(2) is not retried on EINTR on Linux: the descriptor is gone either way.
        _ = Glibc.close(rawValue)
    }

    /// Sets O_NONBLOCK.
    public func setNonBlocking() throws(SystemCallError) {
        let flags = try SystemCall.call("fcntl F_GETFL") { fcntl(rawValue, F_GETFL) }
        _ = try SystemCall.call("fcntl F_SETFL O_NONBLOCK") { fcntl(rawValue, F_SETFL, flags | O_NONBLOCK) }
    }
}
