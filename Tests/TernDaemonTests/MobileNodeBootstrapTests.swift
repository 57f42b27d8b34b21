import TernConfig
import TernDaemon
import TernHAC
import TernProtocol
import Testing

@Suite("The Mobile Node's bootstrap: what it runs with from what the HAC provisioned")
struct MobileNodeBootstrapTests {
    private func provisioning(_ bootstrap: HACBootstrap, keyLength: Int = 20) -> HACProvisioning {
        HACProvisioning(
            securityAssociation: HACSecurityAssociation(
                spi: SecurityParameterIndex(rawValue: 0x1234)!, suite: .aes128GCMSHA256, scope: .allTraffic,
                mnToHA: HACDirectionalKeys(encryption: [UInt8](repeating: 1, count: keyLength), integrity: []),
                haToMN: HACDirectionalKeys(encryption: [UInt8](repeating: 2, count: keyLength), integrity: []),
                validityEnd: HTTPDate(secondsSince1970: 10_000)),
            bootstrap: bootstrap)
    }

    @Test("home agents and home addresses IPv4 first, DNS servers in the HAC's order, validity from now")
    func values() throws {
        let bootstrap = HACBootstrap(
            homeAgentIPv4: IPv4Address("192.0.2.1"), homeAgentIPv6: IPv6Address("2001:db8::1"), port: 7000,
            homeAddressIPv4: IPv4Address("10.0.0.2"), dnsIPv4: [IPv4Address("10.0.0.53")!],
            dnsIPv6: [IPv6Address("2001:db8::53")!])
        let result = try MobileNodeBootstrap(provisioning: provisioning(bootstrap), tlsVersion: "TLSv1.3")
        #expect(result.homeAgents == [IPAddress("192.0.2.1")!, IPAddress("2001:db8::1")!])
        #expect(result.homeAddresses == [IPAddress("10.0.0.2")!])
        #expect(result.port == 7000)
        #expect(result.dnsServers == [IPAddress("10.0.0.53")!, IPAddress("2001:db8::53")!])
        #expect(result.validitySeconds(at: 9_000) == 1_000)
        #expect(result.association.securityParameterIndex.rawValue == 0x1234)
    }

    @Test("no home agent or no home address, or keys that do not fit the suite, are refused with a reason")
    func refused() {
        let noAddress = HACBootstrap(homeAgentIPv4: IPv4Address("192.0.2.1"))
        let error = #expect(throws: DaemonError.self) {
            try MobileNodeBootstrap(provisioning: provisioning(noAddress), tlsVersion: "TLSv1.3")
        }
        #expect(error?.description == "the home agent controller named no home agent or no home address")
        #expect(error?.configuration == false)
        let good = HACBootstrap(homeAgentIPv4: IPv4Address("192.0.2.1"), homeAddressIPv4: IPv4Address("10.0.0.2"))
        let badKeys = #expect(throws: DaemonError.self) {
            try MobileNodeBootstrap(provisioning: provisioning(good, keyLength: 3), tlsVersion: "TLSv1.3")
        }
        #expect(badKeys?.description.hasPrefix("the home agent controller sent an unusable SA") == true)
    }

    @Test("a PSK file's text: hex with whitespace ignored; anything else is refused without echoing it")
    func preSharedKey() throws {
        #expect(try PreSharedKeyFile.parse("00ff 10\n", path: "k.psk") == [0x00, 0xFF, 0x10])
        for bad in ["", "  \n", "xyz-secret", "abc"] {
            let error = #expect(throws: ConfigurationError.self) { try PreSharedKeyFile.parse(bad, path: "k.psk") }
            #expect(error?.description.contains("expected the pre-shared key as hex digits") == true)
            #expect(bad.isEmpty || error?.description.contains(bad) == false)
        }
    }
}
