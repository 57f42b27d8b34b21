import Foundation
import GRDB
import TernOS
public import TernProtocol

/// What the Home Agent Controller remembers (DESIGN.md: where state lives): the Mobile Nodes it knows
/// and their pre-shared keys, Home Address leases (a returning MN gets its addresses back), the SAs it
/// issued, how far each SA's HA→MN sequence numbers are reserved (DESIGN.md: an SA restored after a
/// restart never reuses a sequence number), and the bindings a restarted HA restores.
///
/// One SQLite database through GRDB, written in transactions. The file and its directory are root-only;
/// key material lives only in the database and in the files `tern users add` writes once, never in a log
/// or an error. Thread safety: GRDB's `DatabaseQueue` serializes every access.
public final class HomeAgentControllerStore: Sendable {
    private let database: DatabaseQueue
    /// Where the database is, for messages (nil in memory).
    public let path: String?

    /// The lowest and highest SPI the controller issues (RFC 6618 §5.6.1: 1…2^28−1).
    public static let spiRange: ClosedRange<UInt32> = 1...(1 << 28 - 1)
    /// Tries at a fresh random SPI before giving up (the space is 2^28: a collision streak this long
    /// means a broken random source, not bad luck).
    static let spiAttempts = 64

    /// How long an open or a write waits for another process's write (the HA's, or `tern users`') before
    /// it fails with "database is locked".
    public static let busyTimeoutSeconds: Double = 5

    /// Opens (creating and migrating if needed) the database at `path`. Its directory must exist; the file
    /// is created mode 0600, and an existing one that group or others can read is refused.
    public init(path: String) throws(StoreError) {
        do {
            try Self.checkPermissions(path)
            var configuration = Configuration()
            configuration.foreignKeysEnabled = true
            // `tern users` opens the database while the HA writes to it: wait for its write to end.
            configuration.busyMode = .timeout(Self.busyTimeoutSeconds)
            database = try PrivateFile.creatingPrivateFiles { try DatabaseQueue(path: path, configuration: configuration) }
            self.path = path
            try Self.migrator.migrate(database)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError("cannot open the controller database \(path): \(error)")
        }
    }

    /// A database in memory, for tests.
    public init() throws(StoreError) {
        do {
            var configuration = Configuration()
            configuration.foreignKeysEnabled = true
            database = try DatabaseQueue(configuration: configuration)
            path = nil
            try Self.migrator.migrate(database)
        } catch {
            throw StoreError("cannot create an in-memory controller database: \(error)")
        }
    }

    // MARK: Bindings (so a restarted HA still reaches its MNs)

    /// Records a binding the HA accepted; times in seconds since 1970.
    public func saveBinding(_ binding: StoredBinding) throws(StoreError) {
        try write("save the binding of SPI \(binding.spi)") { db in
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO binding (spi, sequence, care_of, behind_nat, ipv4_home_address, lifetime,
                        registered_at, expires_at, endpoint_address, endpoint_port)
                    SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM security_association WHERE spi = ?)
                    """,
                arguments: [
                    binding.spi, Int(binding.sequenceNumber), binding.careOfAddress?.description, binding.behindNAT,
                    binding.ipv4HomeAddress?.description, Int(binding.lifetimeSeconds), binding.registeredAt,
                    binding.expiresAt, binding.endpoint?.address.description, binding.endpoint.map { Int($0.port) },
                    binding.spi,
                ])
        }
    }

    public func deleteBinding(spi: UInt32) throws(StoreError) {
        try write("delete the binding of SPI \(spi)") { db in
            try db.execute(sql: "DELETE FROM binding WHERE spi = ?", arguments: [spi])
        }
    }

    /// The bindings still live at `now`.
    public func bindings(at now: Double) throws(StoreError) -> [StoredBinding] {
        try read("list bindings") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM binding WHERE expires_at > ? ORDER BY spi", arguments: [now]).map { row in
                let careOf: String? = row["care_of"]
                let ipv4: String? = row["ipv4_home_address"]
                let endpointAddress: String? = row["endpoint_address"]
                let endpointPort: Int? = row["endpoint_port"]
                var endpoint: (address: IPAddress, port: UInt16)?
                if let text = endpointAddress, let address = IPAddress(text), let port = endpointPort,
                    let port16 = UInt16(exactly: port)
                {
                    endpoint = (address, port16)
                }
                let sequence: Int = row["sequence"]
                let lifetime: Int = row["lifetime"]
                return StoredBinding(
                    spi: UInt32(truncatingIfNeeded: row["spi"] as Int64), sequenceNumber: UInt16(truncatingIfNeeded: sequence),
                    careOfAddress: careOf.flatMap(IPAddress.init), behindNAT: row["behind_nat"],
                    ipv4HomeAddress: ipv4.flatMap { IPv4Address($0) }, lifetimeSeconds: UInt32(clamping: lifetime),
                    registeredAt: row["registered_at"], expiresAt: row["expires_at"], endpoint: endpoint)
            }
        }
    }

    // MARK: Mobile Nodes

    /// Adds a Mobile Node with its pre-shared key. Fails if the identity exists.
    public func addMobileNode(identity: String, preSharedKey: [UInt8], at time: Double) throws(StoreError) {
        try write("add mobile node \(identity)") { db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM mobile_node WHERE identity = ?", arguments: [identity]) == true {
                throw StoreError("a mobile node named \(identity) exists already")
            }
            try db.execute(
                sql: "INSERT INTO mobile_node (identity, psk, created_at) VALUES (?, ?, ?)",
                arguments: [identity, Data(preSharedKey), time])
        }
    }

    /// Removes a Mobile Node with its leases and SAs. False if there was none.
    @discardableResult
    public func removeMobileNode(identity: String) throws(StoreError) -> Bool {
        try write("remove mobile node \(identity)") { db in
            try db.execute(sql: "DELETE FROM mobile_node WHERE identity = ?", arguments: [identity])
            return db.changesCount > 0
        }
    }

    /// The pre-shared key of `identity`, or nil when it is unknown or disabled: the HAC then answers as
    /// for an unknown identity (DESIGN.md: 401 at Done, indistinguishable from a wrong PSK).
    public func preSharedKey(for identity: String) throws(StoreError) -> [UInt8]? {
        try read("look up mobile node \(identity)") { db in
            try Data.fetchOne(db, sql: "SELECT psk FROM mobile_node WHERE identity = ? AND disabled = 0", arguments: [identity])
                .map { [UInt8]($0) }
        }
    }

    /// Disables (or enables again) `identity`. Disabling deletes its SAs (and with them its bindings), so
    /// that no HA restores them, and keeps its key and Home Address leases for ``setDisabled(_:identity:)``
    /// with false. False if there is no such Mobile Node.
    @discardableResult
    public func setDisabled(_ disabled: Bool, identity: String) throws(StoreError) -> Bool {
        try write("\(disabled ? "disable" : "enable") mobile node \(identity)") { db in
            try db.execute(sql: "UPDATE mobile_node SET disabled = ? WHERE identity = ?", arguments: [disabled, identity])
            guard db.changesCount > 0 else { return false }
            if disabled { try db.execute(sql: "DELETE FROM security_association WHERE identity = ?", arguments: [identity]) }
            return true
        }
    }

    /// Every Mobile Node with its leases and live SAs (never a key).
    public func mobileNodes(at now: Double) throws(StoreError) -> [MobileNodeRecord] {
        try read("list mobile nodes") { db in
            let rows = try Row.fetchAll(db, sql: "SELECT identity, created_at, disabled FROM mobile_node ORDER BY identity")
            return try rows.map { row in
                let identity: String = row["identity"]
                let addresses = try String.fetchAll(
                    db, sql: "SELECT address FROM home_address_lease WHERE identity = ? ORDER BY family", arguments: [identity]
                ).compactMap(IPAddress.init)
                let associations = try Self.associations(
                    db, where: "identity = ? AND retired_at IS NULL AND validity_end > ?", [identity, now])
                return MobileNodeRecord(
                    identity: identity, createdAt: row["created_at"], homeAddresses: addresses,
                    securityAssociations: associations.map(\.summary), disabled: row["disabled"])
            }
        }
    }

    // MARK: Home Address leases

    /// The Home Addresses of `identity`, leasing one per pool it does not hold yet: the first free host
    /// address of the pool that is not in `reserved` (the HA's own addresses). A returning Mobile Node
    /// gets the same addresses back, as long as they are still inside the pools.
    public func leaseHomeAddresses(
        for identity: String, pools: [IPPrefix], reserved: Set<IPAddress>
    ) throws(StoreError) -> [IPAddress] {
        try write("lease home addresses for \(identity)") { db in
            var leased: [IPAddress] = []
            for pool in pools {
                let family = pool.address.isIPv4 ? 4 : 6
                if let existing = try String.fetchOne(
                    db, sql: "SELECT address FROM home_address_lease WHERE identity = ? AND family = ?",
                    arguments: [identity, family]
                ).flatMap(IPAddress.init) {
                    if pool.contains(existing) {
                        leased.append(existing)
                        continue
                    }
                    // The pool was reconfigured: the old lease is outside it and goes.
                    try db.execute(
                        sql: "DELETE FROM home_address_lease WHERE identity = ? AND family = ?", arguments: [identity, family])
                }
                let taken = Set(
                    try String.fetchAll(db, sql: "SELECT address FROM home_address_lease WHERE family = ?", arguments: [family])
                        .compactMap(IPAddress.init))
                guard let address = HomeAddressPool.firstFree(in: pool, excluding: taken.union(reserved)) else {
                    throw StoreError("the home address pool \(pool) has no free address for \(identity)")
                }
                try db.execute(
                    sql: "INSERT INTO home_address_lease (address, identity, family) VALUES (?, ?, ?)",
                    arguments: [address.description, identity, family])
                leased.append(address)
            }
            return leased
        }
    }

    /// The Home Addresses `identity` holds now, IPv4 first.
    public func homeAddresses(of identity: String) throws(StoreError) -> [IPAddress] {
        try read("home addresses of \(identity)") { db in
            try String.fetchAll(
                db, sql: "SELECT address FROM home_address_lease WHERE identity = ? ORDER BY family", arguments: [identity]
            ).compactMap(IPAddress.init)
        }
    }

    // MARK: Security associations

    /// Issues a new SA for `identity` with a fresh SPI no other SA holds, keys of the suite's lengths
    /// from `random`, valid until `now + validity` seconds.
    public func issueSecurityAssociation(
        for identity: String, suite: Ciphersuite, scope: SecurityAssociationScope, validity: Double, now: Double,
        random: (Int) -> [UInt8]
    ) throws(StoreError) -> IssuedSecurityAssociation {
        try write("issue an SA for \(identity)") { db in
            var spi: UInt32?
            for _ in 0..<Self.spiAttempts {
                let bytes = random(4)
                guard bytes.count == 4 else { break }
                let candidate = (bytes.reduce(0) { $0 << 8 | UInt32($1) }) & Self.spiRange.upperBound
                guard Self.spiRange.contains(candidate) else { continue }
                if try Bool.fetchOne(db, sql: "SELECT 1 FROM security_association WHERE spi = ?", arguments: [candidate])
                    != true
                {
                    spi = candidate
                    break
                }
            }
            guard let spi else { throw StoreError("no free SPI after \(Self.spiAttempts) tries") }
            let keys = SecurityAssociationKeys(
                mobileNodeToHomeAgentEncryption: random(suite.encryptionKeyLength),
                mobileNodeToHomeAgentIntegrity: random(suite.integrityKeyLength),
                homeAgentToMobileNodeEncryption: random(suite.encryptionKeyLength),
                homeAgentToMobileNodeIntegrity: random(suite.integrityKeyLength))
            let issued = IssuedSecurityAssociation(
                securityParameterIndex: spi, identity: identity, suite: suite, scope: scope, keys: keys, issuedAt: now,
                validityEnd: now + validity, sequenceReservation: 0)
            try db.execute(
                sql: """
                    INSERT INTO security_association (spi, identity, suite, scope, mn_to_ha_ekey, mn_to_ha_ikey,
                        ha_to_mn_ekey, ha_to_mn_ikey, issued_at, validity_end)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    spi, identity, Int(suite.rawValue), Int(scope.rawValue), Data(keys.mobileNodeToHomeAgentEncryption),
                    Data(keys.mobileNodeToHomeAgentIntegrity), Data(keys.homeAgentToMobileNodeEncryption),
                    Data(keys.homeAgentToMobileNodeIntegrity), now, now + validity,
                ])
            return issued
        }
    }

    /// The SAs the data plane should hold at `now`: not retired, or retired less than `grace` seconds
    /// ago (the old SA of a make-before-break switch), and not past their validity end.
    public func liveSecurityAssociations(at now: Double, grace: Double) throws(StoreError) -> [IssuedSecurityAssociation] {
        try read("list live SAs") { db in
            try Self.associations(
                db, where: "(retired_at IS NULL OR retired_at > ?) AND validity_end > ?", [now - grace, now])
        }
    }

    /// Marks every other live SA of `identity` retired at `now` (a newer one replaced them).
    public func retireSecurityAssociations(of identity: String, except spi: UInt32, at now: Double) throws(StoreError) {
        try write("retire old SAs of \(identity)") { db in
            try db.execute(
                sql: "UPDATE security_association SET retired_at = ? WHERE identity = ? AND spi != ? AND retired_at IS NULL",
                arguments: [now, identity, spi])
        }
    }

    /// Deletes one SA (issued, but the Mobile Node never received it).
    public func deleteSecurityAssociation(spi: UInt32) throws(StoreError) {
        try write("delete SA \(spi)") { db in
            try db.execute(sql: "DELETE FROM security_association WHERE spi = ?", arguments: [spi])
        }
    }

    /// Deletes SAs retired before `cutoff` or expired before it.
    public func purgeSecurityAssociations(before cutoff: Double) throws(StoreError) {
        try write("purge old SAs") { db in
            try db.execute(
                sql: "DELETE FROM security_association WHERE retired_at < ? OR validity_end < ?", arguments: [cutoff, cutoff])
        }
    }

    /// Records that the HA may use HA→MN sequence numbers up to `reservation` on `spi` (DESIGN.md: the
    /// reservation is persisted before the numbers are used, so a restart resumes past it). Never
    /// lowers a reservation.
    public func reserveSequenceNumbers(spi: UInt32, through reservation: UInt32) throws(StoreError) {
        try write("reserve sequence numbers of SPI \(spi)") { db in
            try db.execute(
                sql: "UPDATE security_association SET ha_sequence_reserved = MAX(ha_sequence_reserved, ?) WHERE spi = ?",
                arguments: [Int64(reservation), spi])
        }
    }

    /// Records the highest MN→HA sequence numbers accepted on each SA (refused after a restart). Never
    /// lowers a mark; unknown SPIs are ignored.
    public func saveReceivedHighWater(_ marks: [(spi: UInt32, highest: UInt32)]) throws(StoreError) {
        try write("save receive high-water marks") { db in
            for mark in marks {
                try db.execute(
                    sql: "UPDATE security_association SET mn_sequence_accepted = MAX(mn_sequence_accepted, ?) WHERE spi = ?",
                    arguments: [Int64(mark.highest), mark.spi])
            }
        }
    }

    /// Records how the HA's run ends: false at its start, true at a clean stop once every mark is saved.
    public func recordStop(clean: Bool) throws(StoreError) {
        try write("record the home agent's stop") { db in
            try db.execute(sql: "INSERT OR REPLACE INTO home_agent_stop (id, clean) VALUES (1, ?)", arguments: [clean])
        }
    }

    /// Whether the previous run recorded a clean stop (false when it never recorded one).
    public func previousStopWasClean() throws(StoreError) -> Bool {
        try read("read the home agent's last stop") { db in
            try Bool.fetchOne(db, sql: "SELECT clean FROM home_agent_stop WHERE id = 1") ?? false
        }
    }

    private static func associations(
        _ db: Database, where condition: String, _ arguments: StatementArguments
    ) throws -> [IssuedSecurityAssociation] {
        try Row.fetchAll(
            db, sql: "SELECT * FROM security_association WHERE \(condition) ORDER BY issued_at", arguments: arguments
        ).compactMap { row in
            let suiteCode: Int = row["suite"]
            let scopeCode: Int = row["scope"]
            guard let suite = Ciphersuite(rawValue: UInt16(truncatingIfNeeded: suiteCode)),
                let scope = SecurityAssociationScope(rawValue: UInt8(truncatingIfNeeded: scopeCode))
            else { return nil }
            func bytes(_ column: String) -> [UInt8] { (row[column] as Data?).map { [UInt8]($0) } ?? [] }
            let reserved: Int64 = row["ha_sequence_reserved"]
            let accepted: Int64 = row["mn_sequence_accepted"]
            return IssuedSecurityAssociation(
                securityParameterIndex: UInt32(truncatingIfNeeded: row["spi"] as Int64), identity: row["identity"],
                suite: suite, scope: scope,
                keys: SecurityAssociationKeys(
                    mobileNodeToHomeAgentEncryption: bytes("mn_to_ha_ekey"),
                    mobileNodeToHomeAgentIntegrity: bytes("mn_to_ha_ikey"),
                    homeAgentToMobileNodeEncryption: bytes("ha_to_mn_ekey"),
                    homeAgentToMobileNodeIntegrity: bytes("ha_to_mn_ikey")),
                issuedAt: row["issued_at"], validityEnd: row["validity_end"],
                sequenceReservation: UInt32(clamping: reserved), retiredAt: row["retired_at"],
                receivedHighest: UInt32(clamping: accepted))
        }
    }

    // MARK: Access

    private func read<T>(_ what: String, _ body: (Database) throws -> T) throws(StoreError) -> T {
        do {
            return try database.read(body)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError("\(what): \(error)")
        }
    }

    private func write<T>(_ what: String, _ body: (Database) throws -> T) throws(StoreError) -> T {
        do {
            return try database.write(body)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError("\(what): \(error)")
        }
    }
}
