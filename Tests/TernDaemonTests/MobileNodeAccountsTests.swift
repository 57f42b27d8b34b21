import Foundation
import TernDaemon
import TernOS
import TernStore
import Testing

@Suite("tern users: identities by the one NAI rule, the PSK file before the database", .serialized)
struct MobileNodeAccountsTests {
    private func directory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tern-users-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        return path
    }

    @Test("an identity the Mobile Node could not send is refused when added (one rule: NetworkAccessIdentifier)")
    func identities() throws {
        #expect(try MobileNodeAccounts.identity("laptop@example.test").text == "laptop@example.test")
        #expect(try MobileNodeAccounts.identity("laptop").text == "laptop")
        for bad in ["", "a b@example.test", "@example.test", "laptop@", "lap(top)@example.test", "a..b@example.test"] {
            let error = #expect(throws: DaemonError.self) { try MobileNodeAccounts.identity(bad) }
            #expect(error?.configuration == true)
            #expect(error?.description.hasSuffix("is not a network access identifier (user@realm, RFC 4282)") == true)
        }
        #expect(throws: DaemonError.self) { try MobileNodeAccounts.identity(String(repeating: "a", count: 254)) }
    }

    @Test("the PSK file text is what the Mobile Node's PreSharedKeyFile reads back")
    func pskText() throws {
        let key: [UInt8] = [0x00, 0x0F, 0xA5, 0xFF]
        #expect(String(decoding: MobileNodeAccounts.preSharedKeyFileText(key), as: UTF8.self) == "000fa5ff\n")
        let random = (0..<MobileNodeAccounts.preSharedKeyLength).map { UInt8(truncatingIfNeeded: $0 &* 37) }
        #expect(
            try PreSharedKeyFile.parse(
                String(decoding: MobileNodeAccounts.preSharedKeyFileText(random), as: UTF8.self), path: "k") == random)
    }

    @Test("add writes a 0600 file and the node; a refused add leaves no file; an existing file is never replaced")
    func add() throws {
        guard geteuid() == 0 else { return }
        let directory = try directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try HomeAgentControllerStore()
        let identity = try MobileNodeAccounts.identity("laptop@example.test")
        let psk = directory + "/laptop.psk"
        try MobileNodeAccounts.add(identity, key: [1, 2, 3], pskFile: psk, store: store, now: 10)
        #expect(try PreSharedKeyFile.load(psk) == [1, 2, 3], "root-only, readable by the MN's loader")
        #expect(try store.preSharedKey(for: "laptop@example.test") == [1, 2, 3])
        // The same identity again: the database refuses, and the new file is taken back.
        let second = directory + "/second.psk"
        let refused = #expect(throws: DaemonError.self) {
            try MobileNodeAccounts.add(identity, key: [9], pskFile: second, store: store, now: 11)
        }
        #expect(refused != nil)
        #expect(!FileSystem.exists(second), "no key on disk that the database does not hold")
        // An existing file is not overwritten, and nothing is stored.
        let other = try MobileNodeAccounts.identity("phone@example.test")
        let exists = #expect(throws: DaemonError.self) {
            try MobileNodeAccounts.add(other, key: [7], pskFile: psk, store: store, now: 12)
        }
        #expect(exists?.description == "cannot create \(psk): File exists (errno 17)")
        #expect(try store.preSharedKey(for: "phone@example.test") == nil)
        #expect(try PreSharedKeyFile.load(psk) == [1, 2, 3])
        let listed = try store.mobileNodes(at: 20)
        #expect(listed.map(MobileNodeAccounts.describe) == ["laptop@example.test: home addresses none yet; 0 live SA(s)"])
    }
}
