import TernOS

/// What is checked about the database file before SQLite opens it (issue 13 items 8 and 9b): the secret
/// rule through TernOS' one helper for secret files (``FileTrust/secretFileHeader(_:noun:length:)``), which
/// also reads the header.
extension HomeAgentControllerStore {
    /// The database holds keys: the secret-file rule (TernOS ``FileTrust``, shared with key files and
    /// the TLS key); its directory must be one that only root (or Tern's user) can write. A missing file
    /// is created below, under umask 077. An existing file that is empty or not SQLite is refused: SQLite
    /// would take a 0-byte file as a new, empty database, and the HA would start with no users.
    static func checkPermissions(_ path: String) throws(StoreError) {
        if let reason = FileTrust.directoryViolation(FileTrust.directoryName(path)) {
            throw StoreError("database directory \(reason)")
        }
        let advice = "delete it to start with an empty database (all identities, leases and SAs are lost), or restore it from a backup"
        let found: (size: Int, header: [UInt8])?
        do {
            found = try FileTrust.secretFileHeader(path, noun: "database", length: sqliteHeader.count)
        } catch {
            if case .refused(let reason) = error { throw StoreError("\(path): \(reason); it holds keys") }
            throw StoreError("cannot check the controller database \(path): \(error)")
        }
        // Missing: created by SQLite, under umask 077.
        guard let found else { return }
        guard found.size >= sqliteHeader.count else {
            throw StoreError("\(path) is \(found.size) octets long, not a SQLite database; \(advice)")
        }
        guard found.header == sqliteHeader else {
            throw StoreError("\(path) does not start with the SQLite header; it is not a Tern database; \(advice)")
        }
    }

    /// The 16 octets every SQLite 3 database file starts with (sqlite.org/fileformat.html §1.3.1).
    static let sqliteHeader = Array("SQLite format 3\0".utf8)
}
