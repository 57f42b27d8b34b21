#if canImport(Glibc)
import Glibc
#endif

/// Files the daemons write for root's eyes only (the status file lists identities, endpoints and SPIs;
/// the gateway's record of the sysctls it changed): mode 0600, replaced atomically.
public enum PrivateFile {
    /// The mode every file written here gets, whatever the umask and whatever mode an older file had.
    public static let mode: UInt32 = 0o600

    /// Writes `contents` to `path + ".tmp"` (mode 0600, not following a link there), syncs it when
    /// `durable`, and renames it over `path`: a reader sees the old file or the new one, never half, and
    /// an existing file of another mode is replaced by one of mode 0600.
    public static func replace(_ path: String, contents: [UInt8], durable: Bool = false) throws(SystemCallError) {
        let temporary = path + ".tmp"
        let fd = try SystemCall.call("open \(temporary)") {
            open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode)
        }
        let descriptor = FileDescriptor(taking: fd)
        // O_CREAT's mode applies only to a new file: a leftover temporary keeps its own without this.
        _ = try SystemCall.call("fchmod \(temporary)") { fchmod(descriptor.rawValue, mode) }
        var written = 0
        while written < contents.count {
            written += try contents.withUnsafeBytes { raw in
                Result { () throws(SystemCallError) -> Int in
                    try SystemCall.call("write \(temporary)") {
                        write(descriptor.rawValue, raw.baseAddress.unsafelyUnwrapped + written, raw.count - written)
                    }
                }
            }.get()
        }
        if durable { _ = try SystemCall.call("fsync \(temporary)") { fsync(descriptor.rawValue) } }
        _ = try SystemCall.call("rename \(temporary) to \(path)") { rename(temporary, path) }
    }

    /// The file's text, or nil when it does not exist. At most `limit` octets are read.
    public static func read(_ path: String, limit: Int = 4096) throws(SystemCallError) -> String? {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw SystemCallError("open \(path)", errno: errno)
        }
        let descriptor = FileDescriptor(taking: fd)
        var buffer = [UInt8](repeating: 0, count: limit)
        let count = try buffer.withUnsafeMutableBytes { raw in
            Result { () throws(SystemCallError) -> Int in
                try SystemCall.call("read \(path)") { Glibc.read(descriptor.rawValue, raw.baseAddress, raw.count) }
            }
        }.get()
        return String(decoding: buffer[..<count], as: UTF8.self)
    }

    /// Removes the file; a missing one is fine.
    public static func remove(_ path: String) throws(SystemCallError) {
        guard unlink(path) == 0 || errno == ENOENT else { throw SystemCallError("unlink \(path)", errno: errno) }
    }
}
