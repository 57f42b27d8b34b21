#if canImport(Glibc)
import Glibc
#endif

/// The one rule for every file Tern trusts (CONVENTIONS.md, "one helper for one rule"): secrets (key
/// files, PSK files, the TLS private key, the controller database) and what configures Tern (the
/// configuration file, its directory, the state and database directories). A pure check of a `stat`
/// result, ``violation(_:policy:kind:noun:path:effectiveUser:)``, and thin `lstat`/`fstat` wrappers.
///
/// Why the configuration rule exists: whoever can write `ha.yaml` can set `hac.scope: 0` (user data in
/// clear) or a NULL suite, so, as sshd's StrictModes does, a file or directory that group or others can
/// write, or that someone other than root or the user Tern runs as owns, is refused.
public enum FileTrust {
    /// What a file must satisfy.
    public enum Policy: Sendable, Hashable {
        /// A secret: owned by root, no permission at all for group or others (`mode & 0o077 == 0`).
        case secret
        /// Trusted to configure Tern: owned by root or the effective user, not writable by group or
        /// others (`mode & 0o022 == 0`).
        case configuration
    }

    /// What the path must be.
    public enum Kind: Sendable, Hashable {
        case regularFile
        case directory
    }

    /// What `stat(2)` says about a path, as far as trust goes (no C type in the API).
    public struct Status: Sendable, Hashable {
        /// `st_mode`: type and permission bits.
        public var mode: UInt32
        /// `st_uid`.
        public var owner: UInt32
        /// `st_size`, octets.
        public var size: Int

        public init(mode: UInt32, owner: UInt32, size: Int = 0) {
            self.mode = mode
            self.owner = owner
            self.size = size
        }

        init(_ status: stat) { self.init(mode: status.st_mode, owner: status.st_uid, size: Int(status.st_size)) }

        public var isSymbolicLink: Bool { mode & S_IFMT == S_IFLNK }
    }

    /// Symbolic links followed at most when a chain is walked (Linux's own limit, MAXSYMLINKS).
    public static let maximumSymbolicLinks = 40

    /// Why `status` is not to be trusted under `policy`, as a sentence that starts with `noun` (e.g.
    /// "key file has mode 0644; …") and says how to fix it; nil when it is fine. Pure.
    public static func violation(
        _ status: Status, policy: Policy, kind: Kind, noun: String, path: String, effectiveUser: UInt32? = nil
    ) -> String? {
        let effectiveUser = effectiveUser ?? geteuid()
        let type = status.mode & S_IFMT
        if type == S_IFLNK {
            return "\(noun) is a symbolic link; name the file itself (\(noun)s must be regular files)"
        }
        switch kind {
        case .regularFile where type != S_IFREG: return "\(noun) is not a regular file"
        case .directory where type != S_IFDIR: return "\(noun) is not a directory"
        default: break
        }
        let mode = status.mode & 0o7777
        switch policy {
        case .secret:
            guard status.owner == 0 else {
                return "\(noun) is owned by uid \(status.owner); it must be owned by root (chown root)"
            }
            guard mode & 0o077 == 0 else {
                return "\(noun) has mode \(octal(mode)); it must not grant group or others any access (chmod 600)"
            }
        case .configuration:
            guard status.owner == 0 || status.owner == effectiveUser else {
                return "\(noun) is owned by uid \(status.owner); it must be owned by root or by the user Tern runs as "
                    + "(uid \(effectiveUser)): chown root \(path)"
            }
            guard mode & 0o022 == 0 else {
                return "\(noun) has mode \(octal(mode)): group or others can write it, and whoever can write it "
                    + "configures Tern; chmod go-w \(path)"
            }
        }
        return nil
    }

    /// `lstat(path)`: what the path itself is (a link is not followed).
    public static func linkStatus(_ path: String) throws(SystemCallError) -> Status {
        var status = stat()
        _ = try SystemCall.call("lstat \(path)") { lstat(path, &status) }
        return Status(status)
    }

    /// `fstat(descriptor)`: what was opened.
    public static func status(of descriptor: Int32, path: String) throws(SystemCallError) -> Status {
        var status = stat()
        _ = try SystemCall.call("fstat \(path)") { fstat(descriptor, &status) }
        return Status(status)
    }

    /// Checks a configuration file the way sshd's StrictModes would: every link of a symbolic link chain
    /// is followed (at most ``maximumSymbolicLinks``), and the directory holding each name in the chain
    /// and the final file must be ``Policy/configuration``-safe; so must the final file's directory.
    /// A link itself may be anyone's mode (links have none); what matters is who can replace it, which
    /// is whoever can write its directory.
    ///
    /// - Returns: nil when trusted, else the reason with the offending path (its first words).
    public static func configurationViolation(_ path: String) -> String? {
        var current = path
        for _ in 0...maximumSymbolicLinks {
            let directory = directoryName(current)
            do {
                let directoryStatus = try linkStatus(directory)
                // The directory may itself be reached through a link (/etc/tern → /srv/tern): stat follows it.
                var followed = directoryStatus
                var target = stat()
                if directoryStatus.isSymbolicLink, stat(directory, &target) == 0 { followed = Status(target) }
                if let reason = violation(followed, policy: .configuration, kind: .directory, noun: "directory", path: directory) {
                    return "\(directory): \(reason)"
                }
                let status = try linkStatus(current)
                guard status.isSymbolicLink else {
                    if let reason = violation(
                        status, policy: .configuration, kind: .regularFile, noun: "configuration file", path: current)
                    {
                        return "\(current): \(reason)"
                    }
                    return nil
                }
                current = try resolveLink(current, in: directory)
            } catch {
                return "\(current): \(error)"
            }
        }
        return "\(path): more than \(maximumSymbolicLinks) symbolic links; name the file itself"
    }

    /// Checks a directory Tern keeps state in (the database's, the state directory) with the
    /// configuration rule; nil when trusted or absent (it is created root-only later).
    public static func directoryViolation(_ directory: String) -> String? {
        var status = stat()
        guard stat(directory, &status) == 0 else { return nil }
        return violation(Status(status), policy: .configuration, kind: .directory, noun: "directory", path: directory)
            .map { "\(directory): \($0)" }
    }

    /// The directory part of `path` ("." for a bare name, "/" for a name at the root).
    public static func directoryName(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let head = path[..<slash]
        return head.isEmpty ? "/" : String(head)
    }

    private static func resolveLink(_ path: String, in directory: String) throws(SystemCallError) -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = try SystemCall.call("readlink \(path)") { readlink(path, &buffer, buffer.count - 1) }
        let target = String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return target.hasPrefix("/") ? target : directory + "/" + target
    }

    public static func octal(_ mode: UInt32) -> String {
        let digits = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
