#if canImport(Glibc)
import Glibc
#endif

/// Small files that must survive a crash whole: written to a temporary name, fsync'd, renamed over the
/// old one and the directory fsync'd, so a reader finds either the old content or the new, never a mix
/// (the state directory, docs/tunnel.md "Restarts"). Also the checks that make a directory or file safe
/// to trust: owned by root, writable by nobody else.
public enum DurableFile {
    /// Who may change a path, as `lstat` sees it.
    public struct Ownership: Sendable, Hashable {
        public var isDirectory: Bool
        public var isRegularFile: Bool
        public var isSymbolicLink: Bool
        public var owner: UInt32
        /// Permission bits (`mode & 0o7777`).
        public var mode: UInt32
        public var size: Int

        /// Group or others may write (or, for a directory, create and rename entries in) it.
        public var writableByOthers: Bool { mode & 0o022 != 0 }
    }

    /// `lstat` of `path`; nil when it does not exist.
    public static func ownership(of path: String) throws(SystemCallError) -> Ownership? {
        var status = stat()
        if lstat(path, &status) != 0 {
            if errno == ENOENT { return nil }
            throw SystemCallError("lstat \(path)", errno: errno)
        }
        let type = status.st_mode & S_IFMT
        return Ownership(
            isDirectory: type == S_IFDIR, isRegularFile: type == S_IFREG, isSymbolicLink: type == S_IFLNK,
            owner: status.st_uid, mode: UInt32(status.st_mode & 0o7777), size: Int(status.st_size))
    }

    /// Creates the directory `path` with mode 0700 (not its parents).
    public static func makeDirectory(_ path: String) throws(SystemCallError) {
        _ = try SystemCall.call("mkdir \(path)") { mkdir(path, 0o700) }
    }

    /// The contents of the regular file `path` (not followed if a symbolic link), at most `limit`
    /// octets; nil when it does not exist.
    public static func read(_ path: String, limit: Int) throws(SystemCallError) -> [UInt8]? {
        let raw = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        if raw < 0 {
            if errno == ENOENT { return nil }
            throw SystemCallError("open \(path)", errno: errno)
        }
        let descriptor = FileDescriptor(taking: raw)
        var status = stat()
        _ = try SystemCall.call("fstat \(path)") { fstat(descriptor.rawValue, &status) }
        guard status.st_mode & S_IFMT == S_IFREG else { throw SystemCallError("open \(path) (not a regular file)", errno: EINVAL) }
        guard status.st_size <= limit else { throw SystemCallError("read \(path) (larger than \(limit) octets)", errno: EFBIG) }
        var buffer = [UInt8](repeating: 0, count: limit + 1)
        var filled = 0
        while filled < buffer.count {
            let count = try buffer.withUnsafeMutableBytes { bytes in
                Result { () throws(SystemCallError) -> Int in
                    try SystemCall.call("read \(path)") {
                        Glibc.read(descriptor.rawValue, bytes.baseAddress.map { $0 + filled }, bytes.count - filled)
                    }
                }
            }.get()
            if count == 0 { break }
            filled += count
        }
        guard filled <= limit else { throw SystemCallError("read \(path) (larger than \(limit) octets)", errno: EFBIG) }
        return Array(buffer[..<filled])
    }

    /// Replaces `directory/name` with `contents` (mode 0600) durably: temporary file, fsync, rename,
    /// fsync of the directory. When this returns, the new contents survive a crash.
    public static func write(_ contents: [UInt8], named name: String, in directory: String) throws(SystemCallError) {
        let final = directory + "/" + name
        let temporary = directory + "/." + name + ".tmp"
        do {
            let descriptor = FileDescriptor(
                taking: try SystemCall.call("open \(temporary)") {
                    open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
                })
            var written = 0
            while written < contents.count {
                let count = try contents.withUnsafeBytes { bytes in
                    Result { () throws(SystemCallError) -> Int in
                        try SystemCall.call("write \(temporary)") {
                            Glibc.write(descriptor.rawValue, bytes.baseAddress.map { $0 + written }, bytes.count - written)
                        }
                    }
                }.get()
                written += count
            }
            _ = try SystemCall.call("fsync \(temporary)") { fsync(descriptor.rawValue) }
        }
        _ = try SystemCall.call("rename \(temporary) to \(final)") { rename(temporary, final) }
        let directoryDescriptor = FileDescriptor(
            taking: try SystemCall.call("open \(directory)") { open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC) })
        _ = try SystemCall.call("fsync \(directory)") { fsync(directoryDescriptor.rawValue) }
    }
}
