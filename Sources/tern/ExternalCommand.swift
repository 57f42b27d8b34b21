import Foundation

/// The one way the daemons run another program: `nft` for the HA's masquerade and the MN's reply marks,
/// `resolvconf` or `resolvectl` for the MN's DNS servers (docs/gateway.md, docs/dns.md).
///
/// - The program is looked up in a fixed list of directories (``searchDirectories``), never through
///   `PATH`: a daemon started by a service manager may have a minimal or unexpected one.
/// - It is spawned directly with its arguments (posix_spawn through Foundation's `Process`), never
///   through a shell, with a fixed environment (``environment``): the tools are shell scripts (resolvconf)
///   or read locale variables, and must behave the same however the daemon was started.
/// - Each run is bounded by a timeout, then SIGKILL and an error.
/// - A failure throws with the program's exit status and what it printed (standard output and standard
///   error together, trimmed), so the daemon's log says why.
///
/// The output goes through a pipe read after the program exits: the tools run here print a few lines,
/// far below a pipe's capacity (64 KiB on Linux). A program that printed more would block and be killed
/// at the timeout, which is an error, never a hang.
struct ExternalCommand {
    /// Where programs are looked for, in order (Debian 12 has merged /usr, so /sbin is /usr/sbin there;
    /// older layouts keep them apart).
    static let searchDirectories = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
    /// The environment every program runs with.
    static let environment = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"]
    /// How long one run may take by default.
    static let defaultTimeoutSeconds = 10.0

    /// The program's absolute path.
    let path: String

    /// Finds `name` in ``searchDirectories``; nil when it is not installed.
    init?(_ name: String) {
        guard let path = Self.searchDirectories.lazy.map({ "\($0)/\(name)" }).first(where: {
            FileManager.default.isExecutableFile(atPath: $0)
        }) else { return nil }
        self.path = path
    }

    /// Runs the program with `arguments`, `input` on its standard input; returns what it printed.
    /// - Throws: ``ExternalCommandError`` when it cannot be started, exits non-zero, or does not finish
    ///   within `timeoutSeconds`.
    @discardableResult
    func run(_ arguments: [String], input: String = "", timeoutSeconds: Double = defaultTimeoutSeconds) throws -> String {
        let shown = ([path] + arguments).joined(separator: " ")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = Self.environment
        let inputPipe = Pipe()
        let outputPipe = Pipe()
        process.standardInput = inputPipe
        process.standardOutput = outputPipe
        process.standardError = outputPipe
        do {
            try process.run()
        } catch {
            throw ExternalCommandError("\(shown): cannot start: \(error)")
        }
        // What is written is at most a few hundred octets: far below a pipe's capacity, so this write
        // cannot block even if the program never reads.
        try? inputPipe.fileHandleForWriting.write(contentsOf: Data(input.utf8))
        try? inputPipe.fileHandleForWriting.close()
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while process.isRunning && Date() < deadline { usleep(5_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw ExternalCommandError("\(shown) did not finish within \(timeoutSeconds) s")
        }
        process.waitUntilExit()
        let output = String(decoding: outputPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            let how =
                process.terminationReason == .exit
                ? "exited \(process.terminationStatus)" : "was killed by signal \(process.terminationStatus)"
            throw ExternalCommandError("\(shown) \(how)\(output.isEmpty ? "" : ": \(output)")")
        }
        return output
    }
}

/// A program run through ``ExternalCommand`` failed; the text names it, its arguments and its output.
struct ExternalCommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
