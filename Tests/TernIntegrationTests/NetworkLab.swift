import Foundation
import Testing
import TernTestSupport

/// A throwaway set of network namespaces for one test, with everything it started.
///
/// Names are unique per process and lab (`t<pid><n>-<role>`), so labs never collide with each other or
/// with anything on the machine. `tearDown` stops every process by its PID (SIGTERM, then SIGKILL) and
/// deletes every namespace; tests call it in `defer`, so it runs on failure too. Every command and every
/// wait has a time limit.
final class NetworkLab: @unchecked Sendable {
    let id: String
    let directory: URL
    private(set) var namespaces: [String] = []
    private var processes: [(process: Process, name: String)] = []
    private static let counter = Counter()

    init() throws {
        id = "t\(getpid() % 10000)\(Self.counter.next())"
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tern-\(id)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        chmod(directory.path, 0o700)
    }

    /// Creates namespace `<id>-<role>` with loopback up.
    @discardableResult
    func namespace(_ role: String) throws -> String {
        let name = "\(id)-\(role)"
        try run(["ip", "netns", "add", name])
        namespaces.append(name)
        try run(["ip", "-n", name, "link", "set", "lo", "up"])
        return name
    }

    /// Runs a command (in `namespace` if given), waits at most `timeout` seconds, and returns its output.
    /// Throws when it fails or times out, with what it printed.
    @discardableResult
    func run(_ arguments: [String], in namespace: String? = nil, timeout: Double = 20) throws -> String {
        let result = try execute(arguments, in: namespace, timeout: timeout)
        guard result.status == 0 else {
            throw LabError("\(describe(arguments, namespace)) exited \(result.status): \(result.output)")
        }
        return result.output
    }

    /// Like `run`, but returns the exit status instead of throwing on failure.
    func execute(_ arguments: [String], in namespace: String? = nil, timeout: Double = 20) throws -> (
        status: Int32, output: String
    ) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = (namespace.map { ["ip", "netns", "exec", $0] } ?? []) + arguments
        let outputFile = directory.appendingPathComponent("cmd-\(UUID().uuidString.prefix(8)).out")
        _ = FileManager.default.createFile(atPath: outputFile.path, contents: nil)
        let handle = try FileHandle(forWritingTo: outputFile)
        defer { try? handle.close() }
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw LabError("\(describe(arguments, namespace)) timed out after \(timeout) s")
        }
        process.waitUntilExit()
        let output = (try? String(contentsOf: outputFile, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(at: outputFile)
        return (process.terminationStatus, output)
    }

    /// Starts a long-running command in `namespace`; its output goes to `<directory>/<name>.log`.
    @discardableResult
    func start(_ name: String, _ arguments: [String], in namespace: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["ip", "netns", "exec", namespace] + arguments
        let log = logFile(name)
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        processes.append((process, name))
        return process
    }

    func logFile(_ name: String) -> URL { directory.appendingPathComponent("\(name).log") }

    func log(_ name: String) -> String { (try? String(contentsOf: logFile(name), encoding: .utf8)) ?? "" }

    /// Runs `body` in a new lab — root required: without it the test fails, loudly (`requireRoot`) —,
    /// prints the named processes' logs when it throws, and always tears the lab down.
    static func run(printingLogsOf names: [String], _ body: (NetworkLab) throws -> Void) throws {
        guard requireRoot() else { return }
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        do {
            try body(lab)
        } catch {
            lab.printLogs(names)
            throw error
        }
    }

    /// Prints the end of each named process's log (those that wrote one): what a failed test shows.
    func printLogs(_ names: [String]) {
        for name in names where !log(name).isEmpty { print("--- \(name).log ---\n\(log(name).suffix(3000))") }
    }

    /// Stops one started process by PID: SIGTERM, up to `grace` seconds, then SIGKILL. Returns its status.
    @discardableResult
    func stop(_ process: Process, grace: Double = 5) -> Int32 {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            let deadline = Date().addingTimeInterval(grace)
            while process.isRunning && Date() < deadline { usleep(10_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
        processes.removeAll { $0.process === process }
        return process.terminationStatus
    }

    /// Kills one started process by PID with SIGKILL (a crash: nothing runs on the way out). Returns
    /// its status.
    @discardableResult
    func crash(_ process: Process) -> Int32 {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        processes.removeAll { $0.process === process }
        return process.terminationStatus
    }

    /// Waits up to `timeout` seconds for `condition`, checking every 50 ms.
    func wait(_ what: String, timeout: Double = 10, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return }
            usleep(50_000)
        }
        throw LabError("timed out after \(timeout) s waiting for \(what)")
    }

    /// Writes `text` to `<directory>/<name>` with `mode`, returning the path.
    @discardableResult
    func write(_ name: String, _ text: String, mode: mode_t = 0o600) throws -> String {
        let url = directory.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        chmod(url.path, mode)
        return url.path
    }

    /// Stops every process, deletes every namespace and the directory. Safe to call more than once.
    func tearDown() {
        for (process, _) in processes { _ = stop(process, grace: 3) }
        for namespace in namespaces.reversed() {
            _ = try? execute(["ip", "netns", "del", namespace], timeout: 10)
        }
        namespaces = []
        if ProcessInfo.processInfo.environment["TERN_KEEP_LAB"] == nil {
            try? FileManager.default.removeItem(at: directory)
        }
    }

    private func describe(_ arguments: [String], _ namespace: String?) -> String {
        (namespace.map { "[\($0)] " } ?? "") + arguments.joined(separator: " ")
    }

    private final class Counter: @unchecked Sendable {
        private var value = 0
        private let lock = NSLock()
        func next() -> Int {
            lock.lock()
            defer { lock.unlock() }
            value += 1
            return value
        }
    }
}

struct LabError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Namespace tests need root (namespaces, TUN). On CI a missing privilege is a failure, not a skip;
/// elsewhere the test says loudly that it did not run.
func requireRoot() -> Bool {
    if getuid() == 0 { return true }
    let message = "NOT RUN: network-namespace tests need root (uid 0) for namespaces and TUN devices"
    if ProcessInfo.processInfo.environment["CI"] != nil {
        Issue.record("\(message); on CI this is a failure")
    } else {
        print("⚠️  \(message)")
    }
    return false
}

/// The `tern` binary under test: $TERN_BIN, else the one built beside the test bundle, else .build/debug.
func ternBinary() throws -> String {
    var candidates: [String] = []
    if let explicit = ProcessInfo.processInfo.environment["TERN_BIN"] { candidates.append(explicit) }
    let bundleDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    candidates.append(bundleDirectory.appendingPathComponent("tern").path)
    candidates.append(repositoryRoot.appendingPathComponent(".build/debug/tern").path)
    for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) {
        return candidate
    }
    throw LabError("no tern binary (looked at \(candidates.joined(separator: ", "))); run `swift build` first")
}
