import TernConfig
import TernDaemon
import TernDataChannel
import TernHAC
import TernProtocol
import Testing

@Suite("The Mobile Node's keying: manual or from the HAC, and what a re-key cannot change")
struct MobileNodeKeyingTests {
    private func association(_ spi: UInt32) throws -> SecurityAssociation {
        let suite = Ciphersuite.aes128GCMSHA256
        let keys = try DirectionalKeys(
            suite: suite, encryptionKey: [UInt8](repeating: 9, count: suite.encryptionKeyLength), integrityKey: [])
        return SecurityAssociation(
            securityParameterIndex: try #require(SecurityParameterIndex(rawValue: spi)), suite: suite, scope: .allTraffic,
            mobileNodeToHomeAgent: keys, homeAgentToMobileNode: keys)
    }

    private func configuration(
        _ sa: SecurityAssociation?, routes: [String] = [], dns: DNSMode = .auto, dnsServers: [String] = []
    ) -> MobileNodeConfiguration {
        MobileNodeConfiguration(
            homeAgentAddresses: [IPAddress("198.51.100.1")!], homeAgentPort: 7000,
            homeAddresses: [IPAddress("10.7.0.2")!], routes: routes.compactMap { IPPrefix($0) }, securityAssociation: sa,
            dns: dns, dnsServers: dnsServers.compactMap(IPAddress.init))
    }

    @Test("manual keying takes the configuration's SA, Home Agent and Home Addresses")
    func manual() throws {
        let keying = try MobileNodeKeying(
            configuration(try association(0x55)), bootstrapped: nil, path: "mn.yaml", now: 0)
        #expect(keying.association.securityParameterIndex.rawValue == 0x55)
        #expect(keying.homeAgents.map(\.description) == ["198.51.100.1:7000"])
        #expect(keying.homeAddresses == [IPAddress("10.7.0.2")!])
        #expect(keying.validitySeconds == nil && keying.controllerDNSServers.isEmpty)
    }

    @Test("a bootstrap's Home Agents, addresses, port and validity win over the file's")
    func bootstrapped() throws {
        let provisioning = HACProvisioning(
            securityAssociation: HACSecurityAssociation(
                spi: SecurityParameterIndex(rawValue: 0x77)!, suite: .aes128GCMSHA256, scope: .allTraffic,
                mnToHA: HACDirectionalKeys(encryption: [UInt8](repeating: 1, count: 20), integrity: []),
                haToMN: HACDirectionalKeys(encryption: [UInt8](repeating: 2, count: 20), integrity: []),
                validityEnd: HTTPDate(secondsSince1970: 5_000)),
            bootstrap: HACBootstrap(
                homeAgentIPv6: IPv6Address("2001:db8::1"), port: 7872, homeAddressIPv4: IPv4Address("10.9.0.5"),
                dnsIPv4: [IPv4Address("10.9.0.53")!]))
        let result = try MobileNodeBootstrap(provisioning: provisioning, tlsVersion: "TLSv1.3")
        let keying = try MobileNodeKeying(configuration(nil), bootstrapped: result, path: "mn.yaml", now: 4_000)
        #expect(keying.homeAgents.map(\.description) == ["[2001:db8::1]:7872"])
        #expect(keying.homeAddresses == [IPAddress("10.9.0.5")!])
        #expect(keying.validitySeconds == 1_000)
        #expect(keying.controllerDNSServers == [IPAddress("10.9.0.53")!])
    }

    @Test("nothing to key with, or a route over the Home Agent, is a configuration error naming the file")
    func refused() throws {
        let none = #expect(throws: DaemonError.self) {
            try MobileNodeKeying(configuration(nil), bootstrapped: nil, path: "mn.yaml", now: 0)
        }
        #expect(none?.configuration == true)
        #expect(none?.description == "mn.yaml: no security-association and no hac: nothing to key the tunnel with")
        let loop = #expect(throws: DaemonError.self) {
            try MobileNodeKeying(
                configuration(try association(1), routes: ["10.0.0.0/8", "198.51.0.0/16"]), bootstrapped: nil,
                path: "mn.yaml", now: 0)
        }
        #expect(
            loop?.description
                == "mn.yaml: tunnel.routes: 198.51.0.0/16 contains the Home Agent's address 198.51.100.1; the tunnel would route into itself")
        #expect(MobileNodeKeying.loopingRoute(routes: [IPPrefix("10.0.0.0/8")!], homeAgents: [IPAddress("198.51.100.1")!]) == nil)
    }

    @Test("DNS: the file's servers win over the HAC's; off applies nothing")
    func dns() throws {
        let hac = [IPAddress("10.9.0.53")!]
        #expect(MobileNodeKeying.dnsServers(configuration(nil), controllerServers: hac) == hac)
        #expect(MobileNodeKeying.dnsServers(configuration(nil, dnsServers: ["9.9.9.9"]), controllerServers: hac) == [IPAddress("9.9.9.9")!])
        #expect(MobileNodeKeying.dnsServers(configuration(nil, dns: .off), controllerServers: hac) == nil)
    }

    @Test("a re-key that names other addresses or DNS servers warns; static DNS servers silence the DNS warning")
    func rekey() {
        let a = [IPAddress("10.9.0.5")!]
        let b = [IPAddress("10.9.0.6")!]
        let comparison = RekeyComparison(homeAddresses: a, dnsServers: a, staticDNS: false)
        #expect(comparison.warnings(homeAddresses: a, dnsServers: a).isEmpty)
        #expect(comparison.warnings(homeAddresses: b, dnsServers: b).count == 2)
        #expect(RekeyComparison(homeAddresses: a, dnsServers: a, staticDNS: true).warnings(homeAddresses: a, dnsServers: b).isEmpty)
    }
}
