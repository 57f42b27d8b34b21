import Foundation
import TernProtocol
import TernStore
import Testing

/// Issue 13 item 9b: a database file that exists but is empty or not SQLite is refused; only a missing
/// file is created fresh. Also the database directory: one that group or others can write is refused.
@Suite("The controller database file: what is refused before SQLite sees it")
struct DatabaseFileTests {
    private func directory(mode: mode_t = 0o700) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tern-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        chmod(url.path, mode)
        return url
    }

    @Test("a 0-byte hac.sqlite is refused with what to do, and left as it was")
    func empty() throws {
        let directory = try directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("hac.sqlite").path
        #expect(FileManager.default.createFile(atPath: path, contents: Data(), attributes: [.posixPermissions: 0o600]))
        let error = #expect(throws: StoreError.self) { try HomeAgentControllerStore(path: path) }
        #expect(error?.description.contains("is 0 octets long, not a SQLite database") == true, "\(String(describing: error))")
        #expect(error?.description.contains("delete it") == true && error?.description.contains("backup") == true)
        #expect((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) == 0, "not written to")
    }

    @Test("a file that is not SQLite is refused; a missing one is created and then accepted")
    func notSQLite() throws {
        let directory = try directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("hac.sqlite").path
        #expect(FileManager.default.createFile(
            atPath: path, contents: Data(repeating: 0x41, count: 4096), attributes: [.posixPermissions: 0o600]))
        let error = #expect(throws: StoreError.self) { try HomeAgentControllerStore(path: path) }
        #expect(error?.description.contains("does not start with the SQLite header") == true, "\(String(describing: error))")
        try FileManager.default.removeItem(atPath: path)
        _ = try HomeAgentControllerStore(path: path)
        _ = try HomeAgentControllerStore(path: path)
    }

    @Test("a database directory that group or others can write is refused (chmod go-w)")
    func writableDirectory() throws {
        let directory = try directory(mode: 0o777)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("hac.sqlite").path
        let error = #expect(throws: StoreError.self) { try HomeAgentControllerStore(path: path) }
        #expect(error?.description.contains("chmod go-w \(directory.path)") == true, "\(String(describing: error))")
        #expect(!FileManager.default.fileExists(atPath: path), "nothing created in it")
    }
}

/// Issue 13 item 7: a disabled identity keeps its key and lease, loses its SAs, and looks unknown to the
/// HAC's key lookup until it is enabled again.
@Suite("Disabled identities")
struct DisabledIdentityTests {
    @Test("disable: no PSK for the HAC, SAs deleted, lease kept, listed as disabled; enable: the PSK again")
    func disable() throws {
        let store = try HomeAgentControllerStore()
        try store.addMobileNode(identity: "m@x", preSharedKey: [7, 7], at: 0)
        let pool = try #require(IPPrefix("192.0.2.0/24"))
        let leased = try store.leaseHomeAddresses(for: "m@x", pools: [pool], reserved: [])
        _ = try store.issueSecurityAssociation(
            for: "m@x", suite: .aes128GCMSHA256, scope: .allTraffic, validity: 60, now: 0,
            random: { Array(repeating: 9, count: $0) })
        #expect(try store.liveSecurityAssociations(at: 1, grace: 0).count == 1)
        #expect(try store.setDisabled(true, identity: "m@x"))
        #expect(try store.preSharedKey(for: "m@x") == nil)
        #expect(try store.liveSecurityAssociations(at: 1, grace: 0).isEmpty)
        #expect(try store.homeAddresses(of: "m@x") == leased)
        #expect(try store.mobileNodes(at: 1).first?.disabled == true)
        #expect(try store.setDisabled(false, identity: "m@x"))
        #expect(try store.preSharedKey(for: "m@x") == [7, 7])
        #expect(try store.mobileNodes(at: 1).first?.disabled == false)
        #expect(try store.setDisabled(true, identity: "nobody@x") == false)
    }
}
