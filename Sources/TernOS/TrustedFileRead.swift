#if canImport(Glibc)
import Glibc
#endif

/// Why a file Tern reads was not read: it could not be opened, it is not to be trusted, it is too large,
/// or a call on it failed. Callers put it into their own error, with the path.
public enum FileReadError: Error, Hashable, Sendable, CustomStringConvertible {
    /// `open(2)` failed (ENOENT, EACCES, ...).
    case cannotOpen(SystemCallError)
    /// What was opened breaks the rule: a sentence from ``FileTrust/violation(_:policy:kind:noun:path:effectiveUser:)``
    /// that starts with the noun and says how to fix it.
    case refused(String)
    /// More than `limit` octets (`size` as `fstat` said, or `limit + 1` when it grew while read).
    case tooLarge(size: Int, limit: Int)
    /// `fstat` or `read` failed.
    case system(SystemCallError)

    public var description: String {
        switch self {
        case .cannotOpen(let error), .system(let error): error.description
        case .refused(let reason): reason
        case .tooLarge(let size, let limit): "the file is \(size) octets; at most \(limit) are allowed"
        }
    }
}

// The one helper for secret files (CONVENTIONS.md, "one helper for one rule"): key files, PSK files, the TLS
// private key and the controller database are all opened by `openSecret`, which never follows a symbolic
// link (O_NOFOLLOW) and checks what it opened (fstat, so no path race) with the secret rule: a regular
// file, owned by root, no permission for group or others.
extension FileTrust {
    /// The contents of the secret file at `path`, at most `limit` octets, after the secret-file checks.
    /// - Parameter noun: what the file is, for the reason ("key file", "database").
    /// - Throws: ``FileReadError``; a missing file is ``FileReadError/cannotOpen(_:)`` with ENOENT.
    public static func readSecret(_ path: String, noun: String, limit: Int) throws(FileReadError) -> [UInt8] {
        guard let (descriptor, status) = try openSecret(path, noun: noun, missingIsNil: false) else {
            throw .cannotOpen(SystemCallError("open \(path)", errno: ENOENT))
        }
        return try readWhole(descriptor, path: path, size: status.size, limit: limit)
    }

    /// ``readSecret(_:noun:limit:)``, or nil when there is no such file (a state file not yet written).
    public static func readSecretIfPresent(_ path: String, noun: String, limit: Int) throws(FileReadError) -> [UInt8]? {
        guard let (descriptor, status) = try openSecret(path, noun: noun, missingIsNil: true) else { return nil }
        return try readWhole(descriptor, path: path, size: status.size, limit: limit)
    }

    /// The size and first `length` octets of the secret file at `path` (fewer when it is shorter), after the
    /// secret-file checks; nil when there is no such file (it is to be created).
    public static func secretFileHeader(
        _ path: String, noun: String, length: Int
    ) throws(FileReadError) -> (size: Int, header: [UInt8])? {
        guard let (descriptor, status) = try openSecret(path, noun: noun, missingIsNil: true) else { return nil }
        do {
            return (status.size, try readFully(descriptor, path: path, capacity: max(length, 0)))
        } catch {
            throw .system(error)
        }
    }

    /// The contents of the regular file at `path` (a symbolic link is followed), at most `limit` octets,
    /// with no rule on owner or mode: a certificate, a configuration file's text (checked with
    /// ``configurationViolation(_:)`` by whoever loads it).
    public static func readRegularFile(_ path: String, limit: Int) throws(FileReadError) -> [UInt8] {
        let descriptor: FileDescriptor
        do {
            descriptor = FileDescriptor(
                taking: try SystemCall.call("open \(path)") { open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK) })
        } catch {
            throw .cannotOpen(error)
        }
        let status: Status
        do { status = try FileTrust.status(of: descriptor.rawValue, path: path) } catch { throw .system(error) }
        guard status.mode & S_IFMT == S_IFREG else { throw .refused("not a regular file") }
        return try readWhole(descriptor, path: path, size: status.size, limit: limit)
    }

    private static func openSecret(
        _ path: String, noun: String, missingIsNil: Bool
    ) throws(FileReadError) -> (FileDescriptor, Status)? {
        let descriptor: FileDescriptor
        do {
            // O_NONBLOCK: a FIFO put in the key's place must not hang the daemon in open.
            descriptor = FileDescriptor(
                taking: try SystemCall.call("open \(path)") {
                    open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
                })
        } catch {
            if error.errno == ENOENT && missingIsNil { return nil }
            if error.errno == ELOOP, let reason = violation(Status(mode: S_IFLNK | 0o777, owner: 0), secret: noun, path) {
                throw .refused(reason)
            }
            throw .cannotOpen(error)
        }
        let status: Status
        do { status = try FileTrust.status(of: descriptor.rawValue, path: path) } catch { throw .system(error) }
        if let reason = violation(status, secret: noun, path) { throw .refused(reason) }
        return (descriptor, status)
    }

    private static func violation(_ status: Status, secret noun: String, _ path: String) -> String? {
        violation(status, policy: .secret, kind: .regularFile, noun: noun, path: path)
    }

    /// All of the file, refusing more than `limit` octets: the size from `fstat` first, then reading one octet
    /// past the limit in case the file grew meanwhile.
    private static func readWhole(
        _ descriptor: FileDescriptor, path: String, size: Int, limit: Int
    ) throws(FileReadError) -> [UInt8] {
        guard size <= limit else { throw .tooLarge(size: size, limit: limit) }
        let contents: [UInt8]
        do { contents = try readFully(descriptor, path: path, capacity: limit + 1) } catch { throw .system(error) }
        guard contents.count <= limit else { throw .tooLarge(size: contents.count, limit: limit) }
        return contents
    }
}

/// Reads from `descriptor` until end of file or `capacity` octets; the read loop every file read in TernOS
/// shares.
func readFully(_ descriptor: FileDescriptor, path: String, capacity: Int) throws(SystemCallError) -> [UInt8] {
    var buffer = [UInt8](repeating: 0, count: capacity)
    var filled = 0
    while filled < buffer.count {
        let count = try buffer.withUnsafeMutableBytes { bytes in
            Result { () throws(SystemCallError) -> Int in
                try SystemCall.call("read \(path)") {
                    read(descriptor.rawValue, bytes.baseAddress.map { $0 + filled }, bytes.count - filled)
                }
            }
        }.get()
        if count == 0 { break }
        filled += count
    }
    buffer.removeSubrange(filled...)
    return buffer
}
