import TernConfig
import TernProtocol
import Testing

/// The example files under Configs/ must parse as shipped.
@Suite("Example configs")
struct ExampleConfigTests {
    static let configs: String = {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)  // Tests/TernConfigTests/ExampleConfigTests.swift
        return parts.joined(separator: "/") + "/Configs"
    }()

    func keyLoader() throws -> FakeKeyFiles {
        // Parsed from the shipped text, but without the permission check (the checkout's file is 0644).
        let keys = try ConfigFile.read(path: Self.configs + "/keys.example.yaml")
        return FakeKeyFiles(files: [Self.configs + "/keys.example.yaml": keys])
    }

    @Test("Configs/ha.yaml")
    func homeAgent() throws {
        let path = Self.configs + "/ha.yaml"
        let keys = try keyLoader()
        let config = try HomeAgentConfiguration.parse(try ConfigFile.read(path: path), path: path, keyLoader: keys.load)
        #expect(config.listenPort == 7872)
        #expect(config.listenAddresses == [IPAddress("0.0.0.0")!, IPAddress("::")!])
        #expect(config.tunnel == TunnelSettings(name: "tern0", mtu: nil, addresses: [IPPrefix("192.0.2.1/24")!, IPPrefix("2001:db8:1::1/64")!]))
        #expect(config.statusFile == "/run/tern/ha-status.json")
        #expect(config.mobileNodes.count == 1)
        let node = try #require(config.mobileNodes.first)
        #expect(node.name == "laptop")
        #expect(node.homeAddresses == [IPAddress("192.0.2.10")!, IPAddress("2001:db8:1::10")!])
        #expect(node.securityAssociation.securityParameterIndex.rawValue == 0x1234)
        #expect(node.securityAssociation.suite == .aes128GCMSHA256)
        #expect(node.securityAssociation.scope == .allTraffic)
        #expect(node.securityAssociation.mobileNodeToHomeAgent.encryptionKey == Array(0...19))
        #expect(node.securityAssociation.homeAgentToMobileNode.encryptionKey == Array(0x20...0x33))
        #expect(node.securityAssociation.mobileNodeToHomeAgent.integrityKey.isEmpty)
    }

    @Test("Configs/ha-hac.yaml and Configs/mn-hac.yaml: the controller's example pair")
    func controllerExamples() throws {
        let haPath = Self.configs + "/ha-hac.yaml"
        let ha = try HomeAgentConfiguration.parse(try ConfigFile.read(path: haPath), path: haPath, keyLoader: try keyLoader().load)
        let hac = try #require(ha.controller)
        #expect(ha.mobileNodes.isEmpty)
        #expect(hac.homeAddressPools == [IPPrefix("192.0.2.0/24")!, IPPrefix("2001:db8:1::/64")!])
        #expect(hac.suites == [.aes128GCMSHA256, .chacha20Poly1305SHA256, .aes256GCMSHA384])
        let mnPath = Self.configs + "/mn-hac.yaml"
        let mn = try MobileNodeConfiguration.parse(try ConfigFile.read(path: mnPath), path: mnPath, keyLoader: try keyLoader().load)
        let client = try #require(mn.controller)
        #expect(client.identity == "laptop@example.net")
        #expect(client.address == IPAddress("198.18.0.1"))
        #expect(mn.securityAssociation == nil)
    }

    @Test("Configs/mn.yaml")
    func mobileNode() throws {
        let path = Self.configs + "/mn.yaml"
        let keys = try keyLoader()
        let config = try MobileNodeConfiguration.parse(try ConfigFile.read(path: path), path: path, keyLoader: keys.load)
        #expect(config.homeAgentAddresses.first == IPAddress("198.18.0.1"))
        #expect(config.homeAgentPort == 7872)
        #expect(config.tunnel == TunnelSettings(name: "tern0", mtu: nil, addresses: []))
        #expect(config.homeAddresses == [IPAddress("192.0.2.10")!, IPAddress("2001:db8:1::10")!])
        #expect(config.routes == [IPPrefix("198.51.100.0/24")!, IPPrefix("2001:db8:2::/64")!])
        #expect(config.securityAssociation?.securityParameterIndex.rawValue == 0x1234)
        #expect(config.securityAssociation?.suite == .aes128GCMSHA256)
        #expect(config.keepaliveInterval == 25)
        #expect(config.statusFile == "/run/tern/mn-status.json")
        #expect(config.dns == .auto && config.dnsServers.isEmpty)
    }

    @Test("Configs/keys.example.yaml fits {13,01} and {00,02}")
    func keys() throws {
        let path = Self.configs + "/keys.example.yaml"
        let material = try KeyFile.parse(try ConfigFile.read(path: path), path: path)
        #expect(material.keys.count == 4)
        for suite in Ciphersuite.allCases where [0, 20].contains(suite.encryptionKeyLength) && [0, 20].contains(suite.integrityKeyLength) {
            _ = try material.securityAssociation(
                securityParameterIndex: SecurityParameterIndex(rawValue: 1)!, suite: suite, scope: .allTraffic)
        }
    }

    @Test("The error examples in the files' headers are what the parser says")
    func headerExamples() throws {
        let keys = try keyLoader()
        let ha = Self.configs + "/ha.yaml"
        let haText = try ConfigFile.read(path: ha).replacing("    spi: 0x1234", with: "    spi: 0")
        let haError = configurationError { () throws(ConfigurationError) in
            _ = try HomeAgentConfiguration.parse(haText, path: "ha.yaml", keyLoader: keys.load)
        }
        #expect(haError?.description == "ha.yaml:54:10: mobile-nodes[0].spi: 0 is not a valid SPI (1…268435455)")
        #expect(try ConfigFile.read(path: ha).contains("`\(haError?.description ?? "?")`"))

        let mn = Self.configs + "/mn.yaml"
        let mnText = try ConfigFile.read(path: mn).replacing("address: 198.18.0.1", with: "address: 198.18.0")
        let mnError = configurationError { () throws(ConfigurationError) in
            _ = try MobileNodeConfiguration.parse(mnText, path: "mn.yaml", keyLoader: keys.load)
        }
        #expect(mnError?.description == "mn.yaml:10:12: home-agent.address: 198.18.0 is not an IPv4 or IPv6 address")
        #expect(try ConfigFile.read(path: mn).contains("`\(mnError?.description ?? "?")`"))
    }

    @Test("every example ships without metrics, and its commented-out metrics section parses when uncommented")
    func metricsSections() throws {
        let keys = try keyLoader()
        for (name, port) in [("ha.yaml", 9587), ("ha-hac.yaml", 9587), ("mn.yaml", 9588), ("mn-hac.yaml", 9588)] {
            let path = Self.configs + "/" + name
            let text = try ConfigFile.read(path: path)
            let uncommented = text.replacing("# metrics:\n", with: "metrics:\n")
                .replacing("#   # address:port", with: "  # address:port").replacing("#   listen:", with: "  listen:")
            #expect(uncommented != text, "\(name) has no commented-out metrics section")
            let expected = MetricsSettings(address: IPAddress("127.0.0.1")!, port: UInt16(port))
            if name.hasPrefix("ha") {
                #expect(try HomeAgentConfiguration.parse(text, path: path, keyLoader: keys.load).metrics == nil)
                #expect(try HomeAgentConfiguration.parse(uncommented, path: path, keyLoader: keys.load).metrics == expected)
            } else {
                #expect(try MobileNodeConfiguration.parse(text, path: path, keyLoader: keys.load).metrics == nil)
                #expect(try MobileNodeConfiguration.parse(uncommented, path: path, keyLoader: keys.load).metrics == expected)
            }
        }
    }
}
