import TernConfig
import Testing

@Suite("state-directory (docs/configuration.md)")
struct StateDirectoryConfigTests {
    private static let haText = """
        tunnel:
          addresses: ["192.0.2.1/24"]
        mobile-nodes:
          - name: mn0
            spi: 4660
            keys: /etc/tern/mn0.keys
            home-addresses: ["192.0.2.10"]

        """
    private static let mnText = """
        home-agent:
          address: 198.18.0.1
        tunnel:
          home-addresses: ["192.0.2.10"]
        security-association:
          spi: 4660
          keys: /etc/tern/mn0.keys

        """

    @Test("defaults to /var/lib/tern on both ends; a path relative to the config file's directory is resolved")
    func values() throws {
        let ha = try HomeAgentConfiguration.parse(Self.haText, path: "/etc/tern/ha.yaml", keyLoader: ValidConfigTests.keys.load)
        #expect(ha.stateDirectory == "/var/lib/tern")
        let mn = try MobileNodeConfiguration.parse(Self.mnText, path: "/etc/tern/mn.yaml", keyLoader: ValidConfigTests.keys.load)
        #expect(mn.stateDirectory == "/var/lib/tern")
        let set = try HomeAgentConfiguration.parse(
            Self.haText + "state-directory: /srv/tern-state\n", path: "/etc/tern/ha.yaml", keyLoader: ValidConfigTests.keys.load)
        #expect(set.stateDirectory == "/srv/tern-state")
        let mnSet = try MobileNodeConfiguration.parse(
            Self.mnText + "state-directory: /srv/tern-mn\n", path: "/etc/tern/mn.yaml", keyLoader: ValidConfigTests.keys.load)
        #expect(mnSet.stateDirectory == "/srv/tern-mn")
    }

    @Test("a changed state-directory needs a restart")
    func reload() throws {
        let running = try HomeAgentConfiguration.parse(Self.haText, path: "/etc/tern/ha.yaml", keyLoader: ValidConfigTests.keys.load)
        let new = try HomeAgentConfiguration.parse(
            Self.haText + "state-directory: /srv/other\n", path: "/etc/tern/ha.yaml", keyLoader: ValidConfigTests.keys.load)
        #expect(running.reload(to: new).refusedFields == ["state-directory"])
    }
}
