import Foundation
import TernOS
import Testing

/// ChildProcess runs real programs from coreutils (always on Debian) with a fixed environment.
@Suite("ChildProcess")
struct ChildProcessTests {
    static let environment = ["PATH=/usr/bin:/bin", "LC_ALL=C"]

    private func run(_ path: String, _ arguments: [String], input: [UInt8] = [], timeout: Int = 5000) throws(SystemCallError)
        -> ChildProcess.Result
    {
        try ChildProcess.run(
            path, arguments: arguments, environment: Self.environment, input: input, timeoutMilliseconds: timeout)
    }

    @Test("standard input reaches the program; standard output and error come back together")
    func inputAndOutput() throws {
        let text = Array("table ip t {\n}\n".utf8)
        let cat = try run("/bin/cat", [], input: text)
        #expect(cat.termination == .exited(0))
        #expect(cat.output == text)
        // 200 000 octets of input: more than a pipe holds, so the input is fed while the output is read.
        let big = [UInt8](repeating: 0x61, count: 200_000)
        let wc = try run("/usr/bin/wc", ["-c"], input: big)
        #expect(String(decoding: wc.output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == "200000")
        let both = try run("/bin/ls", ["/nonexistent-tern-path", "/"])
        #expect(both.termination == .exited(2))
        let text2 = String(decoding: both.output, as: UTF8.self)
        #expect(text2.contains("nonexistent-tern-path"))  // standard error
        #expect(text2.contains("proc"))  // standard output
    }

    @Test("a pipe whose reader is gone is EPIPE, and raises no SIGPIPE (which would end a daemon)")
    func brokenPipe() throws {
        // The test process may ignore SIGPIPE; blocked here, one raised for this thread stays pending
        // (Linux never discards a blocked signal), so the test sees whether the write raised one.
        var pipeOnly = sigset_t()
        var previous = sigset_t()
        sigemptyset(&pipeOnly)
        sigaddset(&pipeOnly, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &pipeOnly, &previous)
        defer {
            var none = timespec(tv_sec: 0, tv_nsec: 0)
            while sigtimedwait(&pipeOnly, nil, &none) == SIGPIPE {}
            pthread_sigmask(SIG_SETMASK, &previous, nil)
        }
        var ends: [Int32] = [-1, -1]
        #expect(pipe(&ends) == 0)
        close(ends[0])
        defer { close(ends[1]) }
        let bytes: [UInt8] = [1, 2, 3]
        let outcome = bytes.withUnsafeBytes { buffer in
            Result { () throws(SystemCallError) -> Int? in try ChildProcess.writeWithoutSIGPIPE(ends[1], buffer) }
        }
        switch outcome {
        case .success(let count): Issue.record("a write to a pipe without a reader wrote \(String(describing: count))")
        case .failure(let error): #expect(error.errno == EPIPE)
        }
        var pending = sigset_t()
        sigpending(&pending)
        #expect(sigismember(&pending, SIGPIPE) == 0, "the write raised SIGPIPE")
        // And a program that exits without reading all its input is no error.
        let result = try run("/usr/bin/head", ["-c", "10"], input: [UInt8](repeating: 0x78, count: 1 << 20))
        #expect(result.termination == .exited(0))
        #expect(result.output == Array("xxxxxxxxxx".utf8))
    }

    @Test("exit status, death by signal, and a program that cannot be started")
    func terminations() throws {
        #expect(try run("/bin/false", []).termination == .exited(1))
        #expect(try run("/bin/sh", ["-c", "kill -9 $$"]).termination == .signalled(SIGKILL))
        #expect(throws: SystemCallError.self) { try run("/nonexistent/tern-program", []) }
    }

    @Test("a program that does not finish is killed at the deadline")
    func timeout() throws {
        let start = Date()
        do {
            _ = try run("/bin/sleep", ["30"], timeout: 300)
            Issue.record("sleep 30 finished within 300 ms")
        } catch {
            #expect(error.errno == ETIMEDOUT)
        }
        #expect(Date().timeIntervalSince(start) < 5)
    }

    @Test("output beyond the limit is read and dropped, so the program never blocks on a full pipe")
    func outputLimit() throws {
        let result = try run("/usr/bin/head", ["-c", "300000", "/dev/zero"])
        #expect(result.termination == .exited(0))
        #expect(result.output.count == ChildProcess.maximumOutput)
        #expect(result.outputTruncated)
    }

    @Test("the child gets no descriptor but 0, 1 and 2, no blocked signal, and only the environment given")
    func cleanChild() throws {
        // A descriptor without O_CLOEXEC, as a careless library might leave one.
        let leaked = open("/dev/null", O_RDONLY)
        #expect(leaked >= 3)
        defer { close(leaked) }
        // The daemons block these for their signalfd; the child must not inherit that.
        var blocked = sigset_t()
        var previous = sigset_t()
        sigemptyset(&blocked)
        sigaddset(&blocked, SIGTERM)
        sigaddset(&blocked, SIGHUP)
        pthread_sigmask(SIG_BLOCK, &blocked, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }

        let descriptors = try run("/bin/ls", ["/proc/self/fd"])
        // ls itself opens one descriptor for the directory it lists (3).
        #expect(String(decoding: descriptors.output, as: UTF8.self).split(separator: "\n") == ["0", "1", "2", "3"])
        let status = String(decoding: try run("/bin/cat", ["/proc/self/status"]).output, as: UTF8.self)
        #expect(status.contains("SigBlk:\t0000000000000000"))
        let environment = String(decoding: try run("/usr/bin/env", []).output, as: UTF8.self)
        #expect(environment.split(separator: "\n").sorted() == ["LC_ALL=C", "PATH=/usr/bin:/bin"])
    }
}
