internal import CTernOS
#if canImport(Glibc)
import Glibc
#endif

/// Runs another program to completion: what the daemons do for `nft`, `resolvconf` and `resolvectl`.
///
/// Spawned directly (posix_spawn, no shell) with the arguments and environment given, standard input
/// from `input` (a program that does not read it all is no error, and raises no SIGPIPE here), standard
/// output and standard error captured together, every other descriptor closed in
/// the child and its signal mask and dispositions reset (the daemons block SIGTERM, SIGINT and SIGHUP
/// for their signalfd). The wait is a `poll` on a pidfd, the output pipe and the input pipe, bounded by
/// a deadline: nothing here depends on a run loop, a socket pair or SIGCHLD (Foundation's `Process`
/// does, and never noticed its child's exit in a network namespace whose loopback was down — every
/// `nft` run then took its whole timeout).
public enum ChildProcess {
    /// How a run ended.
    public enum Termination: Equatable, Sendable {
        case exited(Int32)
        case signalled(Int32)
    }

    public struct Result: Sendable {
        public let termination: Termination
        /// Standard output and standard error as they came, at most ``maximumOutput`` octets.
        public let output: [UInt8]
        /// Whether the program printed more than ``maximumOutput`` octets (the rest was read and dropped).
        public let outputTruncated: Bool
    }

    /// Output kept from one run; more is read (so the program never blocks on a full pipe) and dropped.
    public static let maximumOutput = 64 * 1024
    /// How long to wait between checks when the kernel has no pidfd (before Linux 5.3).
    static let pollIntervalWithoutPidfdMilliseconds: Int32 = 5

    /// Runs `path` with `arguments` (without the program name) and `environment` ("NAME=value").
    /// - Throws: `SystemCallError` when it cannot be started (`posix_spawn <path>`), or with `ETIMEDOUT`
    ///   when it did not finish within `timeoutMilliseconds` (it is then killed with SIGKILL and reaped).
    public static func run(
        _ path: String, arguments: [String], environment: [String], input: [UInt8] = [], timeoutMilliseconds: Int
    ) throws(SystemCallError) -> Result {
        let inputPipe = try Pipe(parentEnd: .write)
        let outputPipe = try Pipe(parentEnd: .read)
        let pid = try spawn(path, arguments: arguments, environment: environment, input: inputPipe, output: outputPipe)
        // The child holds its own copies now; the parent keeps only its ends.
        inputPipe.read.close()
        outputPipe.write.close()
        var waiter = ExitWaiter(pid: pid)
        defer { waiter.close() }
        do {
            return try waiter.collect(
                pid: pid, input: input, inputEnd: inputPipe.write, outputEnd: outputPipe.read,
                deadline: monotonicNanoseconds() &+ UInt64(max(timeoutMilliseconds, 0)) &* 1_000_000, path: path)
        } catch {
            // Timed out, or poll/read failed: the child must not outlive the run.
            kill(pid, SIGKILL)
            var status: Int32 = 0
            _ = try? SystemCall.call("waitpid \(pid)") { tern_wait_child(pid, 0, &status) }
            throw error
        }
    }

    /// A non-blocking write to a pipe that raises no SIGPIPE when the reader is gone: that is the error
    /// EPIPE, never the end of the daemon (SIGPIPE is blocked for the call in this thread, and one it
    /// raised is taken back). Returns the octets written, nil when the pipe is full.
    public static func writeWithoutSIGPIPE(
        _ descriptor: Int32, _ bytes: UnsafeRawBufferPointer, call: @autoclosure () -> String = "write"
    ) throws(SystemCallError) -> Int? {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return 0 }
        return try SystemCall.nonBlocking(call()) { tern_write_nosigpipe(descriptor, base, bytes.count) }
    }

    private static func spawn(
        _ path: String, arguments: [String], environment: [String], input: Pipe, output: Pipe
    ) throws(SystemCallError) -> pid_t {
        let argv = CStringArray([path] + arguments)
        let envp = CStringArray(environment)
        defer {
            argv.free()
            envp.free()
        }
        var pid: Int32 = 0
        let error = tern_spawn(path, argv.pointers, envp.pointers, input.read.rawValue, output.write.rawValue, &pid)
        guard error == 0 else { throw SystemCallError("posix_spawn \(path)", errno: error) }
        return pid
    }
}

/// Waits for one child: its pidfd when the kernel has them, else a short poll interval.
private struct ExitWaiter {
    private var pidfd: Int32

    init(pid: pid_t) {
        pidfd = tern_pidfd_open(pid)
    }

    mutating func close() {
        if pidfd >= 0 { Glibc.close(pidfd) }
        pidfd = -1
    }

    /// Feeds `input`, reads the output, and reaps the child; throws ETIMEDOUT at `deadline`.
    func collect(
        pid: pid_t, input: [UInt8], inputEnd: FileDescriptorEnd, outputEnd: FileDescriptorEnd, deadline: UInt64,
        path: String
    ) throws(SystemCallError) -> ChildProcess.Result {
        var output: [UInt8] = []
        var truncated = false
        var written = 0
        var chunk = [UInt8](repeating: 0, count: 4096)
        if input.isEmpty { inputEnd.close() }
        while true {
            var status: Int32 = 0
            if try SystemCall.call("waitpid \(pid)", { tern_wait_child(pid, 1, &status) }) == pid {
                // Whatever is still buffered; a grandchild that kept the pipe open is not waited for.
                try drain(outputEnd, into: &output, truncated: &truncated, chunk: &chunk, blocking: false)
                return ChildProcess.Result(
                    termination: status >= 0 ? .exited(status) : .signalled(-status), output: output,
                    outputTruncated: truncated)
            }
            let now = monotonicNanoseconds()
            guard now < deadline else { throw SystemCallError("\(path) did not finish in time", errno: ETIMEDOUT) }
            var entries = [
                pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0),
                pollfd(fd: outputEnd.rawValue, events: Int16(POLLIN), revents: 0),
                pollfd(fd: inputEnd.rawValue, events: Int16(POLLOUT), revents: 0),
            ]
            let untilDeadline = Int32(clamping: (deadline - now + 999_999) / 1_000_000)
            let timeout = pidfd >= 0 ? untilDeadline : min(untilDeadline, ChildProcess.pollIntervalWithoutPidfdMilliseconds)
            _ = try SystemCall.call("poll (\(path))") { poll(&entries, nfds_t(entries.count), timeout) }
            if entries[1].revents != 0 {
                try drain(outputEnd, into: &output, truncated: &truncated, chunk: &chunk, blocking: true)
            }
            if entries[2].revents & Int16(POLLOUT) != 0 {
                let outcome = input.withUnsafeBytes { bytes in
                    Result { () throws(SystemCallError) -> Int? in
                        try ChildProcess.writeWithoutSIGPIPE(
                            inputEnd.rawValue, UnsafeRawBufferPointer(rebasing: bytes[written...]),
                            call: "write (\(path) standard input)")
                    }
                }
                switch outcome {
                case .success(let count):
                    written += count ?? 0
                    if written >= input.count { inputEnd.close() }
                case .failure(let error) where error.errno == EPIPE:
                    inputEnd.close()  // the program exited or closed its input without reading it all
                case .failure(let error):
                    throw error
                }
            } else if entries[2].revents != 0 {
                inputEnd.close()  // the program closed its standard input: nothing more to give it
            }
        }
    }

    /// Reads what the pipe holds (one read when `blocking`: poll said it is ready), keeping at most
    /// ``ChildProcess/maximumOutput`` octets.
    private func drain(
        _ end: FileDescriptorEnd, into output: inout [UInt8], truncated: inout Bool, chunk: inout [UInt8], blocking: Bool
    ) throws(SystemCallError) {
        guard end.rawValue >= 0 else { return }
        for _ in 0..<(blocking ? 1 : 64) {
            let count = try SystemCall.nonBlocking("read (child output)") {
                chunk.withUnsafeMutableBytes { buffer in read(end.rawValue, buffer.baseAddress, buffer.count) }
            }
            guard let count, count > 0 else {
                if count == 0 { end.close() }  // end of file: every writer is gone
                return
            }
            let room = max(0, ChildProcess.maximumOutput - output.count)
            output.append(contentsOf: chunk[0..<min(count, room)])
            if count > room { truncated = true }
        }
    }
}

/// One end of a pipe, closed at most once (a closed end reads as −1, which poll ignores).
private final class FileDescriptorEnd {
    private(set) var rawValue: Int32

    init(_ rawValue: Int32) { self.rawValue = rawValue }

    func close() {
        if rawValue >= 0 { Glibc.close(rawValue) }
        rawValue = -1
    }

    deinit { close() }
}

/// A pipe, close-on-exec (the child gets its end through dup2, which clears it; posix_spawn closes every
/// other descriptor in the child anyway). Only the parent's end is made non-blocking: O_NONBLOCK belongs
/// to the open file, which the child's end would share.
private struct Pipe {
    enum End { case read, write }
    let read: FileDescriptorEnd
    let write: FileDescriptorEnd

    init(parentEnd: End) throws(SystemCallError) {
        var ends: [Int32] = [-1, -1]
        _ = try SystemCall.call("pipe") { pipe(&ends) }
        read = FileDescriptorEnd(ends[0])
        write = FileDescriptorEnd(ends[1])
        for end in [read, write] {
            _ = try SystemCall.call("fcntl F_SETFD") { fcntl(end.rawValue, F_SETFD, FD_CLOEXEC) }
        }
        let parent = parentEnd == .read ? read : write
        let flags = try SystemCall.call("fcntl F_GETFL") { fcntl(parent.rawValue, F_GETFL) }
        _ = try SystemCall.call("fcntl F_SETFL") { fcntl(parent.rawValue, F_SETFL, flags | O_NONBLOCK) }
    }
}

/// NULL-terminated `char *[]` for posix_spawn, freed by the caller.
private struct CStringArray {
    let pointers: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>

    init(_ strings: [String]) {
        pointers = .allocate(capacity: strings.count + 1)
        for (index, string) in strings.enumerated() { pointers[index] = strdup(string) }
        pointers[strings.count] = nil
    }

    func free() {
        var index = 0
        while let pointer = pointers[index] {
            Glibc.free(pointer)
            index += 1
        }
        pointers.deallocate()
    }
}
