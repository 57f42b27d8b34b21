import Foundation
import TernProtocol
import TernStore
import Testing

/// A deterministic stand-in for the random source: counts up, so keys and SPIs are predictable.
private final class CountingRandom: @unchecked Sendable {
    var next: UInt8 = 1
    func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in
            defer { next &+= 1 }
            return next
        }
    }
}

@Suite("The Home Agent Controller's SQLite store (DESIGN.md: where state lives)")
struct HomeAgentControllerStoreTests {
    @Test("Mobile Nodes are added once, looked up by identity, listed without keys, and removed with their SAs")
    func mobileNodes() throws {
        let store = try HomeAgentControllerStore()
        try store.addMobileNode(identity: "laptop@example.test", preSharedKey: [1, 2, 3], at: 100)
        #expect(throws: StoreError.self) {
            try store.addMobileNode(identity: "laptop@example.test", preSharedKey: [9], at: 101)
        }
        #expect(try store.preSharedKey(for: "laptop@example.test") == [1, 2, 3])
        #expect(try store.preSharedKey(for: "nobody@example.test") == nil)
        let random = CountingRandom()
        _ = try store.issueSecurityAssociation(
            for: "laptop@example.test", suite: .aes128GCMSHA256, scope: .allTraffic, validity: 3600, now: 1000,
            random: random.bytes)
        let listed = try store.mobileNodes(at: 1000)
        #expect(listed.map(\.identity) == ["laptop@example.test"])
        #expect(listed.first?.securityAssociations.count == 1)
        #expect(try store.removeMobileNode(identity: "laptop@example.test"))
        #expect(try !store.removeMobileNode(identity: "laptop@example.test"))
        #expect(try store.liveSecurityAssociations(at: 1000, grace: 0).isEmpty, "the SA went with its node")
    }

    @Test("Home Addresses: the first free host of each pool, never the HA's own, and the same ones back")
    func leases() throws {
        let store = try HomeAgentControllerStore()
        for name in ["a@x", "b@x"] { try store.addMobileNode(identity: name, preSharedKey: [1], at: 0) }
        let pools = [try #require(IPPrefix("192.0.2.0/24")), try #require(IPPrefix("2001:db8:1::/64"))]
        let reserved: Set<IPAddress> = [try #require(IPAddress("192.0.2.1")), try #require(IPAddress("2001:db8:1::1"))]
        let a = try store.leaseHomeAddresses(for: "a@x", pools: pools, reserved: reserved)
        #expect(a == [IPAddress("192.0.2.2")!, IPAddress("2001:db8:1::2")!])
        let b = try store.leaseHomeAddresses(for: "b@x", pools: pools, reserved: reserved)
        #expect(b == [IPAddress("192.0.2.3")!, IPAddress("2001:db8:1::3")!])
        #expect(try store.leaseHomeAddresses(for: "a@x", pools: pools, reserved: reserved) == a, "a returning MN")
        // A /30 has two hosts: .1 is the HA's, .2 the first MN's; a second MN finds none.
        let tiny = [try #require(IPPrefix("198.51.100.0/30"))]
        _ = try store.leaseHomeAddresses(for: "a@x", pools: tiny, reserved: [IPAddress("198.51.100.1")!])
        #expect(throws: StoreError.self) {
            _ = try store.leaseHomeAddresses(for: "b@x", pools: tiny, reserved: [IPAddress("198.51.100.1")!])
        }
    }

    @Test("SAs get unique SPIs in 1…2^28−1 and keys of the suite's lengths; retire, grace and purge")
    func securityAssociations() throws {
        let store = try HomeAgentControllerStore()
        try store.addMobileNode(identity: "m@x", preSharedKey: [1], at: 0)
        // A random source that repeats itself: the store must skip the SPI it already issued.
        let repeating = { (count: Int) -> [UInt8] in [UInt8](repeating: 0x42, count: count) }
        let first = try store.issueSecurityAssociation(
            for: "m@x", suite: .aes128CBCSHA, scope: .allTraffic, validity: 100, now: 10, random: repeating)
        #expect(first.securityParameterIndex == 0x0242_4242)
        #expect(first.keys.mobileNodeToHomeAgentEncryption.count == 16)
        #expect(first.keys.mobileNodeToHomeAgentIntegrity.count == 20)
        #expect(throws: StoreError.self) {
            _ = try store.issueSecurityAssociation(
                for: "m@x", suite: .aes128CBCSHA, scope: .allTraffic, validity: 100, now: 10, random: repeating)
        }
        let random = CountingRandom()
        let second = try store.issueSecurityAssociation(
            for: "m@x", suite: .chacha20Poly1305SHA256, scope: .allTraffic, validity: 100, now: 20, random: random.bytes)
        #expect(second.securityParameterIndex != first.securityParameterIndex)
        #expect(HomeAgentControllerStore.spiRange.contains(second.securityParameterIndex))
        #expect(second.keys.homeAgentToMobileNodeEncryption.count == 36)
        #expect(second.keys.homeAgentToMobileNodeIntegrity.isEmpty)

        try store.retireSecurityAssociations(of: "m@x", except: second.securityParameterIndex, at: 30)
        #expect(try store.liveSecurityAssociations(at: 35, grace: 10).count == 2, "the old SA within its grace")
        #expect(try store.liveSecurityAssociations(at: 45, grace: 10).map(\.securityParameterIndex) == [second.securityParameterIndex])
        #expect(try store.liveSecurityAssociations(at: 121, grace: 10).isEmpty, "past the validity end")
        try store.purgeSecurityAssociations(before: 40)
        #expect(try store.mobileNodes(at: 45).first?.securityAssociations.map(\.securityParameterIndex) == [second.securityParameterIndex])
    }

    @Test("Sequence reservations persist and never go down")
    func reservations() throws {
        let store = try HomeAgentControllerStore()
        try store.addMobileNode(identity: "m@x", preSharedKey: [1], at: 0)
        let sa = try store.issueSecurityAssociation(
            for: "m@x", suite: .aes128GCMSHA256, scope: .allTraffic, validity: 100, now: 0, random: CountingRandom().bytes)
        try store.reserveSequenceNumbers(spi: sa.securityParameterIndex, through: 1 << 20)
        try store.reserveSequenceNumbers(spi: sa.securityParameterIndex, through: 5)
        #expect(try store.liveSecurityAssociations(at: 1, grace: 0).first?.sequenceReservation == 1 << 20)
        try store.reserveSequenceNumbers(spi: sa.securityParameterIndex, through: .max)
        #expect(try store.liveSecurityAssociations(at: 1, grace: 0).first?.sequenceReservation == .max)
    }

    @Test("The database file is created root-only, survives reopening, and a readable one is refused")
    func file() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tern-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("hac.sqlite").path
        do {
            let store = try HomeAgentControllerStore(path: path)
            try store.addMobileNode(identity: "m@x", preSharedKey: [7, 7], at: 0)
        }
        var status = stat()
        #expect(stat(path, &status) == 0)
        #expect(status.st_mode & 0o077 == 0, "mode \(String(status.st_mode & 0o777, radix: 8))")
        #expect(try HomeAgentControllerStore(path: path).preSharedKey(for: "m@x") == [7, 7])
        chmod(path, 0o644)
        let error = #expect(throws: StoreError.self) { try HomeAgentControllerStore(path: path) }
        #expect(error?.description.contains("chmod 600") == true)
        #expect(error?.description.contains("\u{7}") == false)
    }

    @Test("Descriptions of an issued SA never show a key")
    func redaction() throws {
        let store = try HomeAgentControllerStore()
        try store.addMobileNode(identity: "m@x", preSharedKey: [1], at: 0)
        let sa = try store.issueSecurityAssociation(
            for: "m@x", suite: .aes128GCMSHA256, scope: .allTraffic, validity: 100, now: 0,
            random: { [UInt8](repeating: 0xAB, count: $0) })
        #expect(!sa.description.lowercased().contains("ab"), "\(sa.description)")
        #expect(sa.description.contains("keys redacted"))
    }

    @Test("Bindings are kept per SA, replaced on update, listed while live, and go with their SA")
    func bindings() throws {
        let store = try HomeAgentControllerStore()
        try store.addMobileNode(identity: "m@x", preSharedKey: [1], at: 0)
        let sa = try store.issueSecurityAssociation(
            for: "m@x", suite: .aes128GCMSHA256, scope: .allTraffic, validity: 1000, now: 0, random: CountingRandom().bytes)
        var binding = StoredBinding(
            spi: sa.securityParameterIndex, sequenceNumber: 7, careOfAddress: IPAddress("198.18.1.2"), behindNAT: true,
            ipv4HomeAddress: IPv4Address(192, 0, 2, 2), lifetimeSeconds: 600, registeredAt: 10, expiresAt: 610,
            endpoint: (IPAddress("198.18.3.2")!, 40_000))
        try store.saveBinding(binding)
        binding.sequenceNumber = 8
        try store.saveBinding(binding)
        let listed = try store.bindings(at: 100)
        #expect(listed.count == 1)
        #expect(listed.first?.sequenceNumber == 8)
        #expect(listed.first?.endpoint?.address == IPAddress("198.18.3.2") && listed.first?.endpoint?.port == 40_000)
        #expect(listed.first?.careOfAddress == IPAddress("198.18.1.2") && listed.first?.behindNAT == true)
        #expect(try store.bindings(at: 700).isEmpty, "expired")
        // A binding for an SA the store does not hold is not kept.
        var orphan = binding
        orphan.spi = 12345
        try store.saveBinding(orphan)
        #expect(try store.bindings(at: 100).count == 1)
        try store.deleteBinding(spi: sa.securityParameterIndex)
        #expect(try store.bindings(at: 100).isEmpty)
        try store.saveBinding(binding)
        #expect(try store.removeMobileNode(identity: "m@x"))
        #expect(try store.bindings(at: 100).isEmpty, "gone with the SA")
    }

}
