#if canImport(Glibc)
import Glibc
#endif

/// Small files the daemons write for root's eyes only: the status file (it lists identities, endpoints
/// and SPIs), the gateway's record of the sysctls it changed, a static SA's sequence state (the state
/// directory, docs/tunnel.md "Restarts"). Mode 0600, replaced atomically, and durably when asked:
/// written to a temporary name beside the file, fsync'd, renamed over the old one and the directory
/// fsync'd, so that after a crash a reader finds the old content or the new, never a mix or nothing.
/// Who may be trusted to have written a file is FileTrust's rule.
public enum PrivateFile {
    /// The mode every file written here gets, whatever the umask and whatever mode an older file had.
    public static let mode: UInt32 = 0o600

    /// Writes `contents` to `.<name>.tmp` beside `path` (mode 0600, not following a link there), and
    /// renames it over `path`: a reader sees the old file or the new one, never half, and an existing
    /// file of another mode is replaced by one of mode 0600. With `durable`, the file is synced before
    /// the rename and its directory after it: when this returns, the new contents survive a crash.
    public static func replace(_ path: String, contents: [UInt8], durable: Bool = false) throws(SystemCallError) {
        let directory = FileTrust.directoryName(path)
        let name = path.split(separator: "/").last.map(String.init) ?? path
        let temporary = (directory == "/" ? "" : directory) + "/." + name + ".tmp"
        do {
            let descriptor = FileDescriptor(
                taking: try SystemCall.call("open \(temporary)") {
                    open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode)
                })
            // O_CREAT's mode applies only to a new file: a leftover temporary keeps its own without this.
            _ = try SystemCall.call("fchmod \(temporary)") { fchmod(descriptor.rawValue, mode) }
            var written = 0
            while written < contents.count {
                written += try contents.withUnsafeBytes { raw in
                    Result { () throws(SystemCallError) -> Int in
                        try SystemCall.call("write \(temporary)") {
                            write(descriptor.rawValue, raw.baseAddress.map { $0 + written }, raw.count - written)
                        }
                    }
                }.get()
            }
            if durable { _ = try SystemCall.call("fsync \(temporary)") { fsync(descriptor.rawValue) } }
        }
        _ = try SystemCall.call("rename \(temporary) to \(path)") { rename(temporary, path) }
        guard durable else { return }
        let directoryDescriptor = FileDescriptor(
            taking: try SystemCall.call("open \(directory)") { open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC) })
        _ = try SystemCall.call("fsync \(directory)") { fsync(directoryDescriptor.rawValue) }
    }

    /// The contents of the regular file `path` (a symbolic link is not followed), or nil when it does
    /// not exist. A file larger than `limit` octets, or not a regular file, is an error, not cut short.
    public static func contents(_ path: String, limit: Int) throws(SystemCallError) -> [UInt8]? {
        let raw = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        if raw < 0 {
            if errno == ENOENT { return nil }
            throw SystemCallError("open \(path)", errno: errno)
        }
        let descriptor = FileDescriptor(taking: raw)
        let status = try FileTrust.status(of: descriptor.rawValue, path: path)
        guard status.mode & S_IFMT == S_IFREG else { throw SystemCallError("open \(path) (not a regular file)", errno: EINVAL) }
        guard status.size <= limit else { throw SystemCallError("read \(path) (larger than \(limit) octets)", errno: EFBIG) }
        let buffer = try readFully(descriptor, path: path, capacity: limit + 1)
        guard buffer.count <= limit else { throw SystemCallError("read \(path) (larger than \(limit) octets)", errno: EFBIG) }
        return buffer
    }

    /// The file's text (``contents(_:limit:)`` decoded as UTF-8), or nil when it does not exist.
    public static func read(_ path: String, limit: Int = 4096) throws(SystemCallError) -> String? {
        try contents(path, limit: limit).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Creates `path` with ``mode`` and `contents`, refusing to replace anything there (O_EXCL; a symbolic
    /// link is not followed). A file left half-written is removed.
    public static func create(_ path: String, contents: [UInt8]) throws(SystemCallError) {
        let descriptor = FileDescriptor(
            taking: try SystemCall.call("create \(path)") {
                open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode_t(mode))
            })
        do {
            var written = 0
            while written < contents.count {
                written += try contents.withUnsafeBytes { bytes in
                    Result { () throws(SystemCallError) -> Int in
                        try SystemCall.call("write \(path)") {
                            write(descriptor.rawValue, bytes.baseAddress.map { $0 + written }, bytes.count - written)
                        }
                    }
                }.get()
            }
            _ = try SystemCall.call("fsync \(path)") { fsync(descriptor.rawValue) }
        } catch {
            unlink(path)
            throw error
        }
    }

    /// Runs `body` with the process's file-creation mask at 077, so that every file it creates is root-only
    /// (SQLite creates the database, and its journal beside it, with its own open calls). The mask is
    /// process-wide: call this while setting up, before other threads create files.
    public static func creatingPrivateFiles<Result>(_ body: () throws -> Result) rethrows -> Result {
        let previous = umask(0o077)
        defer { umask(previous) }
        return try body()
    }

    /// Creates the directory `path` with mode 0700 (not its parents).
    public static func makeDirectory(_ path: String) throws(SystemCallError) {
        _ = try SystemCall.call("mkdir \(path)") { mkdir(path, 0o700) }
    }

    /// Removes the file; a missing one is fine.
    public static func remove(_ path: String) throws(SystemCallError) {
        guard unlink(path) == 0 || errno == ENOENT else { throw SystemCallError("unlink \(path)", errno: errno) }
    }
}
