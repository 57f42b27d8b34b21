import Logging
import Synchronization
import TernConfig
import TernDaemon
import TernDataChannel
import TernProtocol
import TernTunnel
import Testing

/// The Home Agent's data plane as a reload sees it, in memory.
private final class FakeStaticPlane: StaticMobileNodes, @unchecked Sendable {
    var added: [(MobileNodeEntry, PersistedSequenceState)] = []
    var removed: [SecurityParameterIndex] = []
    var policies: [BindingCache.Policy] = []
    var refuse: Set<String> = []

    func addStatic(_ node: MobileNodeEntry, previous: PersistedSequenceState) throws {
        if refuse.contains(node.name) { throw DaemonError("SPI in use") }
        added.append((node, previous))
    }

    func remove(_ spi: SecurityParameterIndex) -> Bool {
        removed.append(spi)
        return true
    }

    func setBindingPolicy(_ policy: BindingCache.Policy) { policies.append(policy) }
}

private final class FakeMasquerade: HomeAddressMasquerade, @unchecked Sendable {
    var updates: [[IPPrefix]] = []
    func updateHomeAddresses(_ prefixes: [IPPrefix]) throws { updates.append(prefixes) }
}

private final class FakeStateStore: StaticSequenceStateStore, @unchecked Sendable {
    var added: [UInt32] = []
    func add(_ association: SecurityAssociation) throws -> PersistedSequenceState {
        added.append(association.securityParameterIndex.rawValue)
        return PersistedSequenceState(sentReserved: 100, receivedHighest: 7, cleanStop: true)
    }
}

@Suite("Configuration reload: what a SIGHUP changes in a running Home Agent")
struct ConfigReloadTests {
    private func node(_ name: String, spi: UInt32, _ addresses: [String]) throws -> MobileNodeEntry {
        let suite = Ciphersuite.aes128GCMSHA256
        let keys = try DirectionalKeys(
            suite: suite, encryptionKey: [UInt8](repeating: UInt8(spi & 0xFF), count: suite.encryptionKeyLength),
            integrityKey: [])
        let association = SecurityAssociation(
            securityParameterIndex: try #require(SecurityParameterIndex(rawValue: spi)), suite: suite, scope: .allTraffic,
            mobileNodeToHomeAgent: keys, homeAgentToMobileNode: keys)
        return MobileNodeEntry(name: name, securityAssociation: association, homeAddresses: addresses.compactMap(IPAddress.init))
    }

    private func configuration(_ nodes: [MobileNodeEntry], lifetime: Int = 600) -> HomeAgentConfiguration {
        HomeAgentConfiguration(
            tunnel: TunnelSettings(addresses: [IPPrefix("10.7.0.1/24")!]), mobileNodes: nodes,
            maximumBindingLifetime: lifetime)
    }

    @Test("a removed node's routes go unless another node keeps the address; added ones are routed, resumed, installed")
    func nodes() throws {
        let one = try node("one", spi: 0x101, ["10.7.0.2", "fd00::2"])
        let two = try node("two", spi: 0x102, ["10.7.0.3"])
        // three takes over one's IPv6 Home Address.
        let three = try node("three", spi: 0x103, ["10.7.0.4", "fd00::2"])
        var next = configuration([two, three])
        let plane = FakeStaticPlane()
        let routes = FakeRoutes()
        for address in one.homeAddresses + two.homeAddresses { try routes.addHostRoute(to: address) }
        let masquerade = FakeMasquerade()
        let store = FakeStateStore()
        var levels: [LogLevel?] = []
        let reloader = HomeAgentReloader(
            load: { next }, reloadLogLevel: { level, _ in levels.append(level) }, logger: quietLogger,
            running: configuration([one, two]), plane: plane, routes: routes, mtu: 1400, masquerade: masquerade,
            stateStore: store)
        #expect(reloader.reload() == nil)
        #expect(plane.removed.map(\.rawValue) == [0x101])
        #expect(routes.current == Set(["10.7.0.3", "10.7.0.4", "fd00::2"].compactMap(IPAddress.init)), "fd00::2 kept")
        #expect(store.added == [0x103], "its sequence state before the SA")
        #expect(plane.added.map(\.0.name) == ["three"])
        #expect(plane.added.first?.1 == PersistedSequenceState(sentReserved: 100, receivedHighest: 7, cleanStop: true))
        #expect(masquerade.updates.count == 1, "the IPv4 Home Addresses changed")
        #expect(masquerade.updates.first?.contains(IPPrefix("10.7.0.4/32")!) == true)
        #expect(plane.policies.isEmpty, "the binding policy did not change")
        #expect(reloader.running.mobileNodes.map(\.name) == ["two", "three"])
        #expect(levels.count == 1)
        // The same file again changes nothing.
        #expect(reloader.reload() == nil)
        #expect(plane.added.count == 1 && plane.removed.count == 1 && masquerade.updates.count == 1)
        // A new lifetime changes the policy and nothing else.
        next = configuration([two, three], lifetime: 120)
        _ = reloader.reload()
        #expect(plane.policies.map(\.maximumLifetimeSeconds) == [120])
        #expect(masquerade.updates.count == 1)
    }

    @Test("a node that cannot be added stays out of the running configuration, so the next reload tries again")
    func failedAdd() throws {
        let one = try node("one", spi: 0x101, ["10.7.0.2"])
        let two = try node("two", spi: 0x102, ["10.7.0.3"])
        let plane = FakeStaticPlane()
        plane.refuse = ["two"]
        let reloader = HomeAgentReloader(
            load: { configuration([one, two]) }, reloadLogLevel: { _, _ in }, logger: quietLogger,
            running: configuration([one]), plane: plane, routes: FakeRoutes(), mtu: 1400, masquerade: FakeMasquerade(),
            stateStore: FakeStateStore())
        _ = reloader.reload()
        #expect(reloader.running.mobileNodes.map(\.name) == ["one"])
        plane.refuse = []
        _ = reloader.reload()
        #expect(reloader.running.mobileNodes.map(\.name) == ["one", "two"])
        #expect(plane.added.map(\.0.name) == ["two"])
    }

    @Test("a file that does not load changes nothing")
    func unloadable() throws {
        let one = try node("one", spi: 0x101, ["10.7.0.2"])
        let plane = FakeStaticPlane()
        var running = configuration([one])
        running.statusFile = "/run/tern/ha.json"
        let reloader = HomeAgentReloader(
            load: { throw DaemonError("ha.yaml:3:1: bad") }, reloadLogLevel: { _, _ in Issue.record("not applied") },
            logger: quietLogger, running: running, plane: plane, routes: FakeRoutes(), mtu: 1400,
            masquerade: FakeMasquerade(), stateStore: FakeStateStore())
        #expect(reloader.reload() == "/run/tern/ha.json")
        #expect(plane.added.isEmpty && plane.removed.isEmpty && plane.policies.isEmpty)
    }

    @Test("the pure plan: routes to delete, masqueraded prefixes only when IPv4 Home Addresses change")
    func plan() throws {
        let one = try node("one", spi: 0x101, ["10.7.0.2", "fd00::2"])
        let sixOnly = try node("one", spi: 0x101, ["10.7.0.2", "fd00::9"])
        #expect(HomeAgentReloadPlan.routesToDelete(for: one, keptBy: configuration([])) == one.homeAddresses)
        #expect(HomeAgentReloadPlan.routesToDelete(for: one, keptBy: configuration([sixOnly])) == [IPAddress("fd00::2")!])
        #expect(
            HomeAgentReloadPlan.masqueradedPrefixes(running: configuration([one]), applied: configuration([sixOnly])) == nil,
            "only IPv6 changed: IPv6 is not masqueraded")
        #expect(
            HomeAgentReloadPlan.masqueradedPrefixes(running: configuration([one]), applied: configuration([]))?.isEmpty
                == true)
        #expect(HomeAgentReloadPlan.bindingPolicy(configuration([], lifetime: -5)).maximumLifetimeSeconds == 0, "clamped")
    }

    @Test("defaultMTU: the smallest that every suite fits in a 1500-octet IPv6 path")
    func mtu() {
        let gcm = defaultMTU(for: [.aes128GCMSHA256])
        #expect(gcm == Ciphersuite.aes128GCMSHA256.largestPayload(forDatagramLength: 1452))
        #expect(defaultMTU(for: []) == 1400)
        #expect(defaultMTU(for: Ciphersuite.allCases) <= gcm)
    }
}
