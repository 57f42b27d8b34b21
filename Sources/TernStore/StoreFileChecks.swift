import Glibc
import TernOS

/// What is checked about the database file before SQLite opens it (issue 13 items 8 and 9b).
extension HomeAgentControllerStore {
    /// The database holds keys: the secret-file rule (TernOS ``FileTrust``, shared with key files and
    /// the TLS key); its directory must be one that only root (or Tern's user) can write. A missing file
    /// is created below, under umask 077. An existing file that is empty or not SQLite is refused: SQLite
    /// would take a 0-byte file as a new, empty database, and the HA would start with no users.
    static func checkPermissions(_ path: String) throws(StoreError) {
        if let reason = FileTrust.directoryViolation(FileTrust.directoryName(path)) {
            throw StoreError("database directory \(reason)")
        }
        let status: FileTrust.Status
        do { status = try FileTrust.linkStatus(path) } catch {
            if error.errno == ENOENT { return }
            throw StoreError("cannot check the controller database \(path): \(error)")
        }
        if let reason = FileTrust.violation(status, policy: .secret, kind: .regularFile, noun: "database", path: path) {
            throw StoreError("\(path): \(reason); it holds keys")
        }
        try checkHeader(path, size: status.size)
    }

    /// The 16 octets every SQLite 3 database file starts with (sqlite.org/fileformat.html §1.3.1).
    static let sqliteHeader = Array("SQLite format 3\0".utf8)

    /// Refuses an existing file that is not a SQLite database (0 octets included).
    private static func checkHeader(_ path: String, size: Int) throws(StoreError) {
        let advice = "delete it to start with an empty database (all identities, leases and SAs are lost), or restore it from a backup"
        guard size >= sqliteHeader.count else {
            throw StoreError("\(path) is \(size) octets long, not a SQLite database; \(advice)")
        }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard descriptor >= 0 else { throw StoreError("cannot open the controller database \(path): errno \(errno)") }
        defer { close(descriptor) }
        var header = [UInt8](repeating: 0, count: sqliteHeader.count)
        let count = header.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
        guard count == sqliteHeader.count, header == sqliteHeader else {
            throw StoreError("\(path) does not start with the SQLite header; it is not a Tern database; \(advice)")
        }
    }
}
