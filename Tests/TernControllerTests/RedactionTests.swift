import TernController
import TernHAC
import TernOS
import TernProtocol
import TernStore
import TernTLS
import TernTestSupport
import Testing

@Suite("Redaction: the store's SAs and the client's PSK never show")
struct ControllerRedactionTests {
    @Test("an issued SA, its keys and the bootstrap client's settings print lengths, not keys")
    func values() {
        var random = SeededRandom(seed: 0xC0FFEE)
        let psk = random.bytes(32)
        let keys = (0..<4).map { _ in random.bytes(20) }
        let issued = IssuedSecurityAssociation(
            securityParameterIndex: 9, identity: "laptop@example.test", suite: .aes128CBCSHA, scope: .allTraffic,
            keys: SecurityAssociationKeys(
                mobileNodeToHomeAgentEncryption: keys[0], mobileNodeToHomeAgentIntegrity: keys[1],
                homeAgentToMobileNodeEncryption: keys[2], homeAgentToMobileNodeIntegrity: keys[3]),
            issuedAt: 0, validityEnd: 60, sequenceReservation: 0)
        #expect(leaks(of: keys, in: issued).isEmpty, "\(leaks(of: keys, in: issued))")
        #expect(leaks(of: keys, in: issued.keys).isEmpty)
        let settings = HomeAgentControllerClient.Settings(
            controller: SocketAddress(.v4(IPv4Address(198, 18, 0, 1)), port: 7872),
            trust: .pinnedCertificate(file: "/etc/tern/hac.pem"), serverIdentity: TLSServerIdentity("hac.example.test"),
            identity: NetworkAccessIdentifier("laptop@example.test")!, preSharedKey: psk)
        #expect(leaks(of: [psk], in: settings).isEmpty, "\(leaks(of: [psk], in: settings))")
        #expect("\(settings)".contains("PSK <32 octets, redacted>"), "\(settings)")
    }
}
