import GRDB

/// The database's schema, one named migration per change (GRDB runs those not yet applied, in order).
/// A new change is a new migration at the end; a landed migration is never edited.
extension HomeAgentControllerStore {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE mobile_node (
                        identity TEXT PRIMARY KEY NOT NULL,
                        psk BLOB NOT NULL,
                        created_at REAL NOT NULL
                    );
                    CREATE TABLE home_address_lease (
                        address TEXT PRIMARY KEY NOT NULL,
                        identity TEXT NOT NULL REFERENCES mobile_node(identity) ON DELETE CASCADE,
                        family INTEGER NOT NULL CHECK (family IN (4, 6)),
                        UNIQUE (identity, family)
                    );
                    CREATE TABLE security_association (
                        spi INTEGER PRIMARY KEY NOT NULL,
                        identity TEXT NOT NULL REFERENCES mobile_node(identity) ON DELETE CASCADE,
                        suite INTEGER NOT NULL,
                        scope INTEGER NOT NULL,
                        mn_to_ha_ekey BLOB NOT NULL, mn_to_ha_ikey BLOB NOT NULL,
                        ha_to_mn_ekey BLOB NOT NULL, ha_to_mn_ikey BLOB NOT NULL,
                        issued_at REAL NOT NULL,
                        validity_end REAL NOT NULL,
                        retired_at REAL,
                        ha_sequence_reserved INTEGER NOT NULL DEFAULT 0
                    );
                    CREATE INDEX security_association_identity ON security_association(identity);
                    """)
        }
        migrator.registerMigration("v2-bindings") { db in
            try db.execute(
                sql: """
                    CREATE TABLE binding (
                        spi INTEGER PRIMARY KEY NOT NULL REFERENCES security_association(spi) ON DELETE CASCADE,
                        sequence INTEGER NOT NULL,
                        care_of TEXT,
                        behind_nat INTEGER NOT NULL,
                        ipv4_home_address TEXT,
                        lifetime INTEGER NOT NULL,
                        registered_at REAL NOT NULL,
                        expires_at REAL NOT NULL,
                        endpoint_address TEXT,
                        endpoint_port INTEGER
                    );
                    """)
        }
        // The MN→HA receive high-water mark of each SA (refused after a restart) and whether the HA's last
        // run stopped cleanly (docs/tunnel.md, Restarts). No row: not known to have stopped cleanly.
        migrator.registerMigration("v3-receive-high-water") { db in
            try db.execute(
                sql: """
                    ALTER TABLE security_association ADD COLUMN mn_sequence_accepted INTEGER NOT NULL DEFAULT 0;
                    CREATE TABLE home_agent_stop (
                        id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
                        clean INTEGER NOT NULL
                    );
                    """)
        }
        // `tern users disable`: a disabled identity keeps its key and leases, and is refused (issue 13 item 7).
        migrator.registerMigration("v4-identity-disabled") { db in
            try db.execute(sql: "ALTER TABLE mobile_node ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0")
        }
        return migrator
    }
}
