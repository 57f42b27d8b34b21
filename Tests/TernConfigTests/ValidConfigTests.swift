import TernConfig
import TernDataChannel
import TernProtocol
import Testing

@Suite("Valid configs")
struct ValidConfigTests {
    static let keys = FakeKeyFiles(files: [
        "/etc/tern/mn0.keys": FakeKeyFiles.gcm128AndSHA1,
        "/keys/mn1.keys": """
            # {00,2F}: 16-octet AES key, 20-octet HMAC-SHA1 key.
            mn-to-ha-ekey: "000102030405060708090a0b0c0d0e0f"
            ha-to-mn-ekey: 101112131415161718191a1b1c1d1e1f
            mn-to-ha-ikey: 404142434445464748494a4b4c4d4e4f50515253
            ha-to-mn-ikey: 606162636465666768696a6b6c6d6e6f70717273
            """,
        "/etc/tern/null.keys": """
            mn-to-ha-ikey: 000102030405060708090a0b0c0d0e0f
            ha-to-mn-ikey: 101112131415161718191a1b1c1d1e1f
            """,
    ])

    @Test("A full Home Agent config: every field, hex and decimal SPIs, relative and absolute key paths")
    func homeAgent() throws {
        let text = """
            listen:
              port: 0x1ec0
              addresses: ["198.18.0.1", "2001:db8:ffff::1"]
            tunnel:
              name: tern-ha.0
              mtu: 1400
              addresses: ["192.0.2.1/24", "2001:db8:1::1/64"]
            status-file: status/ha.json
            mobile-nodes:
              - name: mn0
                spi: 4660
                keys: mn0.keys
                home-addresses: ["192.0.2.10", "2001:db8:1::10"]
              - name: MN_1
                spi: 0x2000
                suite: "{00,2f}"
                scope: 0
                keys: /keys/mn1.keys
                home-addresses:
                  - 192.0.2.11
              - name: null-suite
                spi: 268435455
                suite: NULL_SHA256
                keys: "null.keys"
                home-addresses: ["[2001:db8:1::12]"]
            """
        let config = try HomeAgentConfiguration.parse(text, path: "/etc/tern/ha.yaml", keyLoader: Self.keys.load)
        #expect(config.listenPort == 7872)
        #expect(config.listenAddresses == [IPAddress("198.18.0.1")!, IPAddress("2001:db8:ffff::1")!])
        #expect(config.tunnel.name == "tern-ha.0")
        #expect(config.tunnel.mtu == 1400)
        #expect(config.tunnel.addresses == [IPPrefix("192.0.2.1/24")!, IPPrefix("2001:db8:1::1/64")!])
        #expect(config.statusFile == "/etc/tern/status/ha.json")
        #expect(config.mobileNodes.map(\.name) == ["mn0", "MN_1", "null-suite"])

        let mn0 = config.mobileNodes[0].securityAssociation
        #expect(mn0.securityParameterIndex.rawValue == 4660)
        #expect(mn0.suite == .default)
        #expect(mn0.scope == .allTraffic)
        #expect(mn0.mobileNodeToHomeAgent.encryptionKey == Array(0...19))
        #expect(mn0.homeAgentToMobileNode.encryptionKey == Array(0x20...0x33))
        #expect(mn0.mobileNodeToHomeAgent.integrityKey.isEmpty, "AEAD: the ikey is ignored")

        let mn1 = config.mobileNodes[1]
        #expect(mn1.homeAddresses == [IPAddress("192.0.2.11")!])
        #expect(mn1.securityAssociation.securityParameterIndex.rawValue == 0x2000)
        #expect(mn1.securityAssociation.suite == .aes128CBCSHA)
        #expect(mn1.securityAssociation.scope == .signalingOnly)
        #expect(mn1.securityAssociation.mobileNodeToHomeAgent.encryptionKey == Array(0...15))
        #expect(mn1.securityAssociation.homeAgentToMobileNode.integrityKey == Array(0x60...0x73))

        let null = config.mobileNodes[2]
        #expect(null.homeAddresses == [IPAddress("2001:db8:1::12")!])
        #expect(null.securityAssociation.securityParameterIndex == SecurityParameterIndex(rawValue: 0x0FFF_FFFF))
        #expect(null.securityAssociation.suite == .nullSHA256)
        #expect(null.securityAssociation.mobileNodeToHomeAgent.encryptionKey.isEmpty)
        #expect(null.securityAssociation.mobileNodeToHomeAgent.integrityKey == Array(0...15))
    }

    @Test("Home Agent defaults: listen on 0.0.0.0 and :: port 7872, tern0, no MTU, no status file")
    func homeAgentDefaults() throws {
        let text = """
            tunnel:
              addresses: [192.0.2.1/24]
            mobile-nodes:
              - {name: a, spi: 1, keys: /etc/tern/mn0.keys, home-addresses: [192.0.2.10]}
            """
        let config = try HomeAgentConfiguration.parse(text, path: "ha.yaml", keyLoader: Self.keys.load)
        #expect(config.listenPort == 7872)
        #expect(config.listenAddresses == [.v4(.any), .v6(.any)])
        #expect(config.tunnel == TunnelSettings(name: "tern0", mtu: nil, addresses: [IPPrefix("192.0.2.1/24")!]))
        #expect(config.statusFile == nil)
    }

    @Test("A full Mobile Node config")
    func mobileNode() throws {
        let text = """
            home-agent:
              address: "[2001:db8:ffff::1]"
              port: 8000
            tunnel:
              name: wlan-tern
              mtu: 1280
              home-addresses: [192.0.2.10, "2001:db8:1::10"]
              routes: [198.51.100.0/24, "2001:db8:2::/64", 0.0.0.0/0]
            security-association:
              spi: 0X0ABCDEF
              suite: "{ 13 , 03 }"
              scope: 1
              keys: ../keys/mn.keys
            keepalive: 0
            status-file: /run/tern/mn.json
            """
        var keys = FakeKeyFiles(files: [:])
        keys.files["/etc/tern/../keys/mn.keys"] = """
            mn-to-ha-ekey: \(String(repeating: "ab", count: 36))
            ha-to-mn-ekey: \(String(repeating: "CD", count: 36))
            """
        let config = try MobileNodeConfiguration.parse(text, path: "/etc/tern/mn.yaml", keyLoader: keys.load)
        #expect(config.homeAgentAddresses.first == IPAddress("2001:db8:ffff::1"))
        #expect(config.homeAgentPort == 8000)
        #expect(config.tunnel == TunnelSettings(name: "wlan-tern", mtu: 1280, addresses: []))
        #expect(config.homeAddresses == [IPAddress("192.0.2.10")!, IPAddress("2001:db8:1::10")!])
        #expect(config.routes == [IPPrefix("198.51.100.0/24")!, IPPrefix("2001:db8:2::/64")!, IPPrefix("0.0.0.0/0")!])
        #expect(config.securityAssociation?.securityParameterIndex.rawValue == 0x0ABCDEF)
        #expect(config.securityAssociation?.suite == .chacha20Poly1305SHA256)
        #expect(config.securityAssociation?.homeAgentToMobileNode.encryptionKey == [UInt8](repeating: 0xCD, count: 36))
        #expect(config.keepaliveInterval == 0)
        #expect(config.statusFile == "/run/tern/mn.json")
    }

    @Test("Mobile Node defaults: port 7872, tern0, no routes, suite {13,01}, scope 1, keepalive 25")
    func mobileNodeDefaults() throws {
        let text = """
            home-agent: {address: 198.18.0.1}
            tunnel:
              home-addresses: [192.0.2.10]
            security-association:
              spi: 7
              keys: /etc/tern/mn0.keys
            """
        let config = try MobileNodeConfiguration.parse(text, path: "mn.yaml", keyLoader: Self.keys.load)
        #expect(config.homeAgentPort == 7872)
        #expect(config.tunnel == TunnelSettings())
        #expect(config.routes.isEmpty)
        #expect(config.securityAssociation?.suite == .aes128GCMSHA256)
        #expect(config.securityAssociation?.scope == .allTraffic)
        #expect(config.keepaliveInterval == 25)
        #expect(config.statusFile == nil)
        #expect(config.bindingLifetime == 600)
        #expect(config.homeAgentAddresses == [IPAddress("198.18.0.1")!])
    }

    @Test("Mobile Node: a dual-stack Home Agent (addresses, in order of preference) and the binding lifetime")
    func mobileNodeBinding() throws {
        let text = """
            home-agent:
              addresses: ["fd00:198:18::1", 198.18.0.1]
            tunnel: {home-addresses: [192.0.2.10]}
            security-association: {spi: 7, keys: /etc/tern/mn0.keys}
            binding:
              lifetime: 16
            """
        let config = try MobileNodeConfiguration.parse(text, path: "mn.yaml", keyLoader: Self.keys.load)
        #expect(config.homeAgentAddresses == [IPAddress("fd00:198:18::1")!, IPAddress("198.18.0.1")!])
        #expect(config.homeAgentAddresses.first == IPAddress("fd00:198:18::1"))
        #expect(config.bindingLifetime == 16)
    }

    @Test("Home Agent: binding policy fields and their defaults")
    func homeAgentBinding() throws {
        let base = """
            tunnel: {addresses: [192.0.2.1/24]}
            mobile-nodes:
              - {name: a, spi: 1, keys: /etc/tern/mn0.keys, home-addresses: [192.0.2.10]}
            """
        let defaults = try HomeAgentConfiguration.parse(base, path: "ha.yaml", keyLoader: Self.keys.load)
        #expect(defaults.maximumBindingLifetime == 600)
        #expect(defaults.natKeepalive == 25)
        let tuned = try HomeAgentConfiguration.parse(
            base + "\nbinding: {maximum-lifetime: 60, nat-keepalive: 10}\n", path: "ha.yaml", keyLoader: Self.keys.load)
        #expect(tuned.maximumBindingLifetime == 60)
        #expect(tuned.natKeepalive == 10)
    }

    @Test("Descriptions and dumps name the SA but never show a key")
    func redaction() throws {
        let text = """
            home-agent: {address: 198.18.0.1}
            tunnel: {home-addresses: [192.0.2.10]}
            security-association: {spi: 7, keys: /etc/tern/mn0.keys}
            """
        let config = try MobileNodeConfiguration.parse(text, path: "mn.yaml", keyLoader: Self.keys.load)
        let material = try Self.keys.load("/etc/tern/mn0.keys")
        var dumped = ""
        dump(config, to: &dumped)
        var dumpedKeys = ""
        dump(material, to: &dumpedKeys)
        for text in [config.description, String(reflecting: config), dumped, material.description, dumpedKeys] {
            #expect(!text.lowercased().contains("0405060708"), "\(text)")
            #expect(!text.contains("4, 5, 6, 7"), "\(text)")
        }
        #expect(config.description.contains("SPI 7, suite {13,01} (AES_128_GCM_SHA256), scope 1, keys redacted"))
    }

    @Test("Home Agent with a co-located HAC: no static mobile nodes needed; pools, addresses, suites, validity")
    func homeAgentController() throws {
        let text = """
            tunnel: {addresses: [192.0.2.1/24, "2001:db8:1::1/64"]}
            hac:
              certificate: certs/hac.pem
              private-key: /etc/tern/hac.key
              home-address-pools: [192.0.2.0/24, "2001:db8:1::/64"]
              home-agent-addresses: [198.18.0.1, "fd00:198:18::1"]
              suites: ["{13,03}", "{13,01}"]
              scope: 1
              sa-validity: 3600
              dns: [192.0.2.1]
            """
        let config = try HomeAgentConfiguration.parse(text, path: "/etc/tern/ha.yaml", keyLoader: Self.keys.load)
        #expect(config.mobileNodes.isEmpty)
        let hac = try #require(config.controller)
        #expect(hac.port == 7872)
        #expect(hac.listenAddresses == [.v4(.any), .v6(.any)])
        #expect(hac.certificate == "/etc/tern/certs/hac.pem")
        #expect(hac.database == "/var/lib/tern/hac.sqlite")
        #expect(hac.homeAddressPools == [IPPrefix("192.0.2.0/24")!, IPPrefix("2001:db8:1::/64")!])
        #expect(hac.homeAgentAddresses == [IPAddress("198.18.0.1")!, IPAddress("fd00:198:18::1")!])
        #expect(hac.suites == [.chacha20Poly1305SHA256, .aes128GCMSHA256])
        #expect(hac.scope == .allTraffic)
        #expect(hac.securityAssociationValidity == 3600)
        #expect(hac.dnsServers == [IPAddress("192.0.2.1")!])
    }

    @Test("Mobile Node bootstrapping from a HAC: no SA, home agent or home addresses in the file")
    func mobileNodeController() throws {
        let text = """
            hac:
              address: 198.18.0.1
              server-name: hac.example.test
              identity: laptop@example.test
              psk-file: laptop.psk
              ca-file: /etc/tern/ca.pem
            tunnel:
              routes: ["198.51.100.0/24"]
            """
        let config = try MobileNodeConfiguration.parse(text, path: "/etc/tern/mn.yaml", keyLoader: Self.keys.load)
        #expect(config.securityAssociation == nil)
        #expect(config.homeAgentAddresses.isEmpty)
        #expect(config.homeAddresses.isEmpty)
        let hac = try #require(config.controller)
        #expect(hac.address == IPAddress("198.18.0.1"))
        #expect(hac.port == 7872)
        #expect(hac.serverName == "hac.example.test")
        #expect(hac.identity == "laptop@example.test")
        #expect(hac.pskFile == "/etc/tern/laptop.psk")
        #expect(hac.caFile == "/etc/tern/ca.pem" && hac.pinnedCertificate == nil)
    }


    @Test("Home Agent gateway: defaults (forwarding, masquerade everywhere), false, and a list of interfaces")
    func homeAgentGateway() throws {
        let base = """
            tunnel:
              addresses: [192.0.2.1/24]
            mobile-nodes:
              - {name: a, spi: 1, keys: /etc/tern/mn0.keys, home-addresses: [192.0.2.10]}
            """
        let defaults = try HomeAgentConfiguration.parse(base, path: "ha.yaml", keyLoader: Self.keys.load)
        #expect(defaults.gateway == GatewaySettings(forwarding: true, masquerade: .allOutside))
        let off = try HomeAgentConfiguration.parse(
            base + "\ngateway: {forwarding: false, masquerade: false}", path: "ha.yaml", keyLoader: Self.keys.load)
        #expect(off.gateway == GatewaySettings(forwarding: false, masquerade: .off))
        let listed = try HomeAgentConfiguration.parse(
            base + "\ngateway:\n  masquerade: [eth0, ens3.100]", path: "ha.yaml", keyLoader: Self.keys.load)
        #expect(listed.gateway == GatewaySettings(forwarding: true, masquerade: .interfaces(["eth0", "ens3.100"])))

        let notBoolean = configurationError { () throws(ConfigurationError) in
            _ = try HomeAgentConfiguration.parse(base + "\ngateway: {forwarding: yes}", path: "ha.yaml", keyLoader: Self.keys.load)
        }
        #expect(notBoolean?.description == "ha.yaml:5:23: gateway.forwarding: yes is not true or false")
        let tunnelItself = configurationError { () throws(ConfigurationError) in
            _ = try HomeAgentConfiguration.parse(base + "\ngateway: {masquerade: [tern0]}", path: "ha.yaml", keyLoader: Self.keys.load)
        }
        #expect(tunnelItself?.description.hasSuffix("gateway.masquerade[0]: tern0 is the tunnel itself; name the outside interfaces") == true)
    }

    @Test("Mobile Node full tunnel: off by default, block-ipv6 on by default")
    func mobileNodeFullTunnel() throws {
        let defaults = try Self.mobileNode(tunnel: "")
        #expect(!defaults.fullTunnel && defaults.blockIPv6)
        let full = try Self.mobileNode(tunnel: "  full-tunnel: true")
        #expect(full.fullTunnel && full.blockIPv6)
        let leaky = try Self.mobileNode(tunnel: "  full-tunnel: true\n  block-ipv6: false")
        #expect(leaky.fullTunnel && !leaky.blockIPv6)
        let wrong = configurationError { () throws(ConfigurationError) in _ = try Self.mobileNode(tunnel: "  full-tunnel: 1") }
        #expect(wrong?.description == "mn.yaml:4:16: tunnel.full-tunnel: 1 is not true or false")
    }

    @Test("Mobile Node DNS: auto by default with no static servers; dns-servers replace the HAC's; off means none")
    func mobileNodeDNS() throws {
        let defaults = try Self.mobileNode(tunnel: "")
        #expect(defaults.dns == .auto && defaults.dnsServers.isEmpty)
        let servers = try Self.mobileNode(tunnel: "  dns-servers: [\"192.0.2.53\", \"2001:db8:1::53\"]")
        #expect(servers.dns == .auto)
        #expect(servers.dnsServers == [IPAddress("192.0.2.53")!, IPAddress("2001:db8:1::53")!])
        #expect(try Self.mobileNode(tunnel: "  dns: off").dns == .off)
        #expect(try Self.mobileNode(tunnel: "  dns: auto\n  dns-servers: [192.0.2.53]").dnsServers == [IPAddress("192.0.2.53")!])

        let notMode = configurationError { () throws(ConfigurationError) in _ = try Self.mobileNode(tunnel: "  dns: false") }
        #expect(notMode?.description == "mn.yaml:4:8: tunnel.dns: false is not auto or off")
        let offWithServers = configurationError { () throws(ConfigurationError) in
            _ = try Self.mobileNode(tunnel: "  dns: off\n  dns-servers: [192.0.2.53]")
        }
        #expect(
            offWithServers?.description
                == "mn.yaml:5:3: tunnel.dns-servers: dns is off, so these servers would never be applied; remove dns-servers or set dns: auto")
        let unspecified = configurationError { () throws(ConfigurationError) in _ = try Self.mobileNode(tunnel: "  dns-servers: [192.0.2.53, 0.0.0.0]") }
        #expect(unspecified?.description == "mn.yaml:4:29: tunnel.dns-servers[1]: 0.0.0.0 cannot be a DNS server")
        let duplicate = configurationError { () throws(ConfigurationError) in _ = try Self.mobileNode(tunnel: "  dns-servers: [192.0.2.53, 192.0.2.53]") }
        #expect(duplicate?.description == "mn.yaml:4:29: tunnel.dns-servers[1]: duplicate of entry [0]")
        let notAddress = configurationError { () throws(ConfigurationError) in _ = try Self.mobileNode(tunnel: "  dns-servers: [dns.example]") }
        #expect(notAddress?.description == "mn.yaml:4:17: tunnel.dns-servers[0]: dns.example is not an IPv4 or IPv6 address")
    }

    @Test("tunnel.offloads: on by default for both roles, false turns TUN and UDP offloads off")
    func tunnelOffloads() throws {
        #expect(try Self.mobileNode(tunnel: "").tunnel.offloads)
        #expect(try !Self.mobileNode(tunnel: "  offloads: false").tunnel.offloads)
        let wrong = configurationError { () throws(ConfigurationError) in _ = try Self.mobileNode(tunnel: "  offloads: off") }
        #expect(wrong?.description == "mn.yaml:4:13: tunnel.offloads: off is not true or false")
        let homeAgent = """
            tunnel: {addresses: [192.0.2.1/24], offloads: false}
            mobile-nodes:
              - {name: mn0, spi: 7, keys: /etc/tern/mn0.keys, home-addresses: [192.0.2.10]}
            """
        #expect(try !HomeAgentConfiguration.parse(homeAgent, path: "ha.yaml", keyLoader: Self.keys.load).tunnel.offloads)
    }

    @Test("tunnel.crypto-threads: 1 by default for both roles, 1…8, anything else refused at its line")
    func cryptoThreads() throws {
        #expect(try Self.mobileNode(tunnel: "").tunnel.cryptoThreads == 1)
        #expect(try Self.mobileNode(tunnel: "  crypto-threads: 2").tunnel.cryptoThreads == 2)
        #expect(try Self.mobileNode(tunnel: "  crypto-threads: 8").tunnel.cryptoThreads == ConfigurationLimits.cryptoThreadsRange.upperBound)
        for (text, column) in [("0", 19), ("9", 19), ("-1", 19), ("two", 19), ("1.5", 19)] {
            let wrong = configurationError { () throws(ConfigurationError) in _ = try Self.mobileNode(tunnel: "  crypto-threads: \(text)") }
            #expect(wrong?.description.hasPrefix("mn.yaml:4:\(column): tunnel.crypto-threads: \(text) is ") == true, "\(String(describing: wrong))")
            #expect(wrong?.description.contains("(1…8)") == true, "\(String(describing: wrong))")
        }
        let homeAgent = """
            tunnel: {addresses: [192.0.2.1/24], crypto-threads: 3}
            mobile-nodes:
              - {name: mn0, spi: 7, keys: /etc/tern/mn0.keys, home-addresses: [192.0.2.10]}
            """
        #expect(try HomeAgentConfiguration.parse(homeAgent, path: "ha.yaml", keyLoader: Self.keys.load).tunnel.cryptoThreads == 3)
    }

    @Test("metrics: absent is off; present (even empty) is on, on loopback with a port per role; IPv6 in brackets")
    func metrics() throws {
        let ha = "tunnel: {addresses: [192.0.2.1/24]}\nmobile-nodes: [{name: a, spi: 1, keys: /etc/tern/mn0.keys, home-addresses: [192.0.2.10]}]\n"
        func homeAgent(_ lines: String) throws(ConfigurationError) -> MetricsSettings? {
            try HomeAgentConfiguration.parse(ha + lines, path: "ha.yaml", keyLoader: Self.keys.load).metrics
        }
        let mn = "home-agent: {address: 198.18.0.1}\ntunnel: {home-addresses: [192.0.2.10]}\nsecurity-association: {spi: 7, keys: /etc/tern/mn0.keys}\n"
        func mobileNode(_ lines: String) throws(ConfigurationError) -> MetricsSettings? {
            try MobileNodeConfiguration.parse(mn + lines, path: "mn.yaml", keyLoader: Self.keys.load).metrics
        }
        #expect(try homeAgent("") == nil)
        #expect(try mobileNode("") == nil)
        #expect(try homeAgent("metrics:\n") == MetricsSettings.homeAgentDefault)
        #expect(try homeAgent("metrics: {}\n")?.description == "127.0.0.1:9587")
        #expect(try mobileNode("metrics:\n")?.description == "127.0.0.1:9588")
        let v6 = try #require(try mobileNode("metrics:\n  listen: \"[::1]:9600\"\n"))
        #expect(v6 == MetricsSettings(address: IPAddress("::1")!, port: 9600) && v6.isLoopback && v6.description == "[::1]:9600")
        let wide = try #require(try homeAgent("metrics:\n  listen: 0.0.0.0:9587\n"))
        #expect(!wide.isLoopback, "allowed, and warned about at start")
        #expect(try homeAgent("metrics: {listen: 127.0.0.2:0x2583}\n") == MetricsSettings(address: IPAddress("127.0.0.2")!, port: 9603))
        #expect(try homeAgent("metrics: {listen: \"[2001:db8::1]:80\"}\n")?.isLoopback == false)
    }

    /// A Mobile Node config with manual keying whose `tunnel:` section has `tunnelLines` besides its
    /// home address, parsed as mn.yaml (the field under test starts on line 4).
    static func mobileNode(tunnel tunnelLines: String) throws(ConfigurationError) -> MobileNodeConfiguration {
        try MobileNodeConfiguration.parse(
            """
            home-agent: {address: 198.18.0.1}
            tunnel:
              home-addresses: [192.0.2.10]
            \(tunnelLines)
            security-association: {spi: 7, keys: /etc/tern/mn0.keys}
            """, path: "mn.yaml", keyLoader: keys.load)
    }
}
