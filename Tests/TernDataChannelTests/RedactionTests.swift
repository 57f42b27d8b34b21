import TernDataChannel
import TernProtocol
import TernTestSupport
import Testing

@Suite("Redaction: an SA's keys never show")
struct RedactionTests {
    @Test("description, debug description and dump of an SA and its directional keys show lengths only")
    func securityAssociation() throws {
        var random = SeededRandom(seed: 0xD1CE)
        let keys = (0..<4).map { _ in random.bytes(20) }
        let association = SecurityAssociation(
            securityParameterIndex: SecurityParameterIndex(rawValue: 4660)!, suite: .aes128CBCSHA, scope: .allTraffic,
            mobileNodeToHomeAgent: try DirectionalKeys(suite: .aes128CBCSHA, encryptionKey: Array(keys[0].prefix(16)), integrityKey: keys[1]),
            homeAgentToMobileNode: try DirectionalKeys(suite: .aes128CBCSHA, encryptionKey: Array(keys[2].prefix(16)), integrityKey: keys[3]))
        let secrets = keys.map { Array($0.prefix(16)) }
        #expect(leaks(of: secrets, in: association).isEmpty, "\(leaks(of: secrets, in: association))")
        #expect(leaks(of: secrets, in: association.mobileNodeToHomeAgent).isEmpty)
        #expect(leaks(of: secrets, in: [association]).isEmpty, "inside a collection too")
        #expect("\(association)" == "SA 4660, suite {00,2F}, scope 1, keys redacted")
        #expect("\(association.homeAgentToMobileNode)".contains("integrityKey: <20 octets, redacted>"))
    }
}
