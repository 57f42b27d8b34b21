import TernConfig
import TernProtocol
import Testing

/// What a SIGHUP applies and what it refuses (docs/reload.md), on parsed configurations.
@Suite("Configuration reload")
struct ReloadTests {
    static let keys = FakeKeyFiles(files: [
        "/etc/tern/a.keys": FakeKeyFiles.gcm128AndSHA1,
        "/etc/tern/b.keys": FakeKeyFiles.gcm128AndSHA1,
        "/etc/tern/c.keys": FakeKeyFiles.gcm128AndSHA1.replacingOccurrences(of: "000102", with: "ffeedd"),
    ])

    static func homeAgent(_ nodes: String, extra: String = "") throws(ConfigurationError) -> HomeAgentConfiguration {
        try HomeAgentConfiguration.parse(
            """
            tunnel:
              addresses: ["192.0.2.1/24"]
            \(extra)
            mobile-nodes:
            \(nodes)
            """, path: "/etc/tern/ha.yaml", keyLoader: keys.load)
    }

    static let nodeA = "  - {name: a, spi: 100, keys: a.keys, home-addresses: [192.0.2.10]}"
    static let nodeB = "  - {name: b, spi: 200, keys: b.keys, home-addresses: [192.0.2.11]}"

    @Test("HA: the same file changes nothing")
    func unchanged() throws {
        let running = try Self.homeAgent(Self.nodeA)
        let change = running.reload(to: try Self.homeAgent(Self.nodeA))
        #expect(change.addedMobileNodes.isEmpty && change.removedMobileNodes.isEmpty)
        #expect(change.refusedFields.isEmpty && !change.bindingPolicyChanged)
        #expect(change.applied == running)
    }

    @Test("HA: Mobile Nodes added, removed, and replaced when their keys, SPI or Home Addresses change")
    func mobileNodes() throws {
        let running = try Self.homeAgent(Self.nodeA)
        let added = running.reload(to: try Self.homeAgent(Self.nodeA + "\n" + Self.nodeB))
        #expect(added.addedMobileNodes.map(\.name) == ["b"] && added.removedMobileNodes.isEmpty)
        #expect(added.applied.mobileNodes.map(\.name) == ["a", "b"])

        let removed = running.reload(to: try Self.homeAgent(Self.nodeB))
        #expect(removed.removedMobileNodes.map(\.name) == ["a"] && removed.addedMobileNodes.map(\.name) == ["b"])

        for changed in [
            "  - {name: a, spi: 100, keys: c.keys, home-addresses: [192.0.2.10]}",
            "  - {name: a, spi: 101, keys: a.keys, home-addresses: [192.0.2.10]}",
            "  - {name: a, spi: 100, keys: a.keys, home-addresses: [192.0.2.10, 192.0.2.12]}",
            "  - {name: a, spi: 100, suite: \"{13,01}\", scope: 0, keys: a.keys, home-addresses: [192.0.2.10]}",
        ] {
            let replaced = running.reload(to: try Self.homeAgent(changed))
            #expect(replaced.removedMobileNodes.map(\.name) == ["a"], "\(changed)")
            #expect(replaced.addedMobileNodes.map(\.name) == ["a"], "\(changed)")
            #expect(replaced.refusedFields.isEmpty, "\(changed)")
        }
    }

    @Test("HA: binding policy, status file and log level apply; listen, tunnel, gateway and control socket are named and kept")
    func fields() throws {
        let running = try Self.homeAgent(Self.nodeA)
        let change = running.reload(
            to: try Self.homeAgent(
                Self.nodeA,
                extra: """
                    binding: {maximum-lifetime: 120, nat-keepalive: 20}
                    status-file: /run/tern/ha.json
                    log-level: debug
                    listen: {port: 7873}
                    gateway: {masquerade: false}
                    control-socket: /run/tern/other.sock
                    """))
        #expect(change.bindingPolicyChanged)
        #expect(change.applied.maximumBindingLifetime == 120 && change.applied.natKeepalive == 20)
        #expect(change.applied.statusFile == "/run/tern/ha.json" && change.applied.logLevel == .debug)
        #expect(change.refusedFields == ["listen.port", "control-socket", "gateway"])
        #expect(change.applied.listenPort == running.listenPort && change.applied.gateway == running.gateway)
        #expect(change.applied.controlSocket == running.controlSocket)

        let tunnel = running.reload(
            to: try HomeAgentConfiguration.parse(
                """
                tunnel: {name: tern9, mtu: 1300, addresses: ["192.0.2.2/24"], crypto-threads: 2}
                mobile-nodes:
                \(Self.nodeA)
                """, path: "/etc/tern/ha.yaml", keyLoader: Self.keys.load))
        #expect(tunnel.refusedFields == ["tunnel.name", "tunnel.mtu", "tunnel.addresses", "tunnel.crypto-threads"])
        #expect(tunnel.applied.tunnel == running.tunnel)
    }

    static func mobileNode(_ extra: String = "", port: Int = 7872, spi: Int = 100) throws(ConfigurationError) -> MobileNodeConfiguration {
        try MobileNodeConfiguration.parse(
            """
            home-agent: {address: 198.18.0.1, port: \(port)}
            tunnel: {home-addresses: [192.0.2.10]}
            security-association: {spi: \(spi), keys: a.keys}
            \(extra)
            """, path: "/etc/tern/mn.yaml", keyLoader: keys.load)
    }

    @Test("MN: keepalive, binding lifetime, status file and log level apply; the Home Agent and the SA are kept")
    func mobileNodeFields() throws {
        let running = try Self.mobileNode()
        #expect(running.reload(to: try Self.mobileNode()).refusedFields.isEmpty)
        let change = running.reload(
            to: try Self.mobileNode("keepalive: 5\nbinding: {lifetime: 60}\nlog-level: error", port: 7873, spi: 101))
        #expect(change.bindingChanged)
        #expect(change.applied.keepaliveInterval == 5 && change.applied.bindingLifetime == 60)
        #expect(change.applied.logLevel == .error)
        #expect(change.refusedFields == ["home-agent.port", "security-association"])
        #expect(change.applied.homeAgentPort == 7872)
        let threads = running.reload(
            to: try MobileNodeConfiguration.parse(
                """
                home-agent: {address: 198.18.0.1, port: 7872}
                tunnel: {home-addresses: [192.0.2.10], crypto-threads: 4}
                security-association: {spi: 100, keys: a.keys}
                """, path: "/etc/tern/mn.yaml", keyLoader: Self.keys.load))
        #expect(threads.refusedFields == ["tunnel.crypto-threads"])
        #expect(threads.applied.tunnel.cryptoThreads == 1)
        #expect(change.applied.securityAssociation?.securityParameterIndex.rawValue == 100)
    }

    @Test("log-level takes the seven names and nothing else")
    func logLevel() throws {
        for level in LogLevel.allCases {
            #expect(try Self.mobileNode("log-level: \(level.rawValue)").logLevel == level)
        }
        let error = configurationError { () throws(ConfigurationError) in _ = try Self.mobileNode("log-level: verbose") }
        #expect(error?.field == "log-level", "\(String(describing: error))")
        #expect(error?.line == 4, "\(String(describing: error))")
    }
}
