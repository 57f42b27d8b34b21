import Foundation
import TernOS

/// The one way the daemons run another program: `nft` for the HA's masquerade and the MN's reply marks,
/// `resolvconf` or `resolvectl` for the MN's DNS servers (docs/gateway.md, docs/dns.md).
///
/// - The program is looked up in a fixed list of directories (``searchDirectories``), never through
///   `PATH`: a daemon started by a service manager may have a minimal or unexpected one.
/// - It is spawned directly with its arguments (posix_spawn, TernOS's ``ChildProcess``), never through a
///   shell, with a fixed environment (``environment``), no descriptor of the daemon's and no blocked
///   signal: the tools are shell scripts (resolvconf) or read locale variables, and must behave the same
///   however the daemon was started.
/// - Each run is bounded by a timeout, then SIGKILL and an error.
/// - A failure throws with the program's exit status and what it printed (standard output and standard
///   error together, trimmed), so the daemon's log says why.
///
/// The output is read while the program runs, and kept up to ``ChildProcess/maximumOutput`` octets.
public struct ExternalCommand: Sendable {
    /// Where programs are looked for, in order (Debian 12 has merged /usr, so /sbin is /usr/sbin there;
    /// older layouts keep them apart).
    public static let searchDirectories = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
    /// The environment every program runs with.
    public static let environment = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"]
    /// How long one run may take by default.
    public static let defaultTimeoutSeconds = 10.0

    /// The program's absolute path.
    public let path: String

    /// Finds `name` in ``searchDirectories``; nil when it is not installed.
    public init?(_ name: String) {
        guard let path = Self.searchDirectories.lazy.map({ "\($0)/\(name)" }).first(where: {
            FileSystem.isExecutableFile($0)
        }) else { return nil }
        self.path = path
    }

    /// Runs the program with `arguments`, `input` on its standard input; returns what it printed.
    /// - Throws: ``ExternalCommandError`` when it cannot be started, exits non-zero, or does not finish
    ///   within `timeoutSeconds`.
    @discardableResult
    public func run(_ arguments: [String], input: String = "", timeoutSeconds: Double = defaultTimeoutSeconds) throws -> String {
        let shown = ([path] + arguments).joined(separator: " ")
        let result: ChildProcess.Result
        do {
            result = try ChildProcess.run(
                path, arguments: arguments, environment: Self.environment.map { "\($0.key)=\($0.value)" }.sorted(),
                input: Array(input.utf8), timeoutMilliseconds: Int(timeoutSeconds * 1000))
        } catch where error.errno == ETIMEDOUT {
            throw ExternalCommandError("\(shown) did not finish within \(timeoutSeconds) s")
        } catch {
            throw ExternalCommandError("\(shown): cannot run: \(error)")
        }
        let output = String(decoding: result.output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        switch result.termination {
        case .exited(0):
            return output
        case .exited(let status):
            throw ExternalCommandError("\(shown) exited \(status)\(output.isEmpty ? "" : ": \(output)")")
        case .signalled(let signal):
            throw ExternalCommandError("\(shown) was killed by signal \(signal)\(output.isEmpty ? "" : ": \(output)")")
        }
    }
}

/// A program run through ``ExternalCommand`` failed; the text names it, its arguments and its output.
public struct ExternalCommandError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
