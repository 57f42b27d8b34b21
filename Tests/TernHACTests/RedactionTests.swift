import Testing
import TernHAC
import TernProtocol
import TernTestSupport

/// No key or PSK shows when an exchange's values are printed (a log line that interpolates one by mistake).
@Suite("Redaction: keys never show in descriptions or dumps")
struct RedactionTests {
    @Test("the PSK, the SA's keys, the containers and messages that carry them, the state machines")
    func exchangeValues() throws {
        var random = SeededRandom(seed: 0x7E57_5EC2)
        let psk = random.bytes(32)
        let keys = (0..<4).map { _ in random.bytes(20) }
        let provisioning = HACProvisioning(
            securityAssociation: HACSecurityAssociation(
                spi: SecurityParameterIndex(rawValue: 77)!, suite: .aes128GCMSHA256, scope: .allTraffic,
                mnToHA: HACDirectionalKeys(encryption: keys[0], integrity: []),
                haToMN: HACDirectionalKeys(encryption: keys[1], integrity: []), validityEnd: nil),
            bootstrap: HACBootstrap(homeAgentIPv4: IPv4Address("198.51.100.1"), homeAddressIPv4: IPv4Address("10.77.0.2")))
        var server = PSKServer(
            policy: .init(), channelBinding: Fixture.cb, hacRand: Fixture.hacRand, dummyKey: keys[2], now: 0,
            lookup: { _ in psk }, provision: { _ throws(HACProvisioningFailure) in provisioning })
        var client = PSKClient(
            configuration: .init(identity: Fixture.identity, preSharedKey: psk, proposedSuites: [.aes128GCMSHA256]),
            channelBinding: Fixture.cb)
        let secrets = [psk] + keys
        let initRequest = try client.start(mnRand: Fixture.mnRand, now: 0)
        guard case .respond(let initResponse) = server.receive(initRequest, now: 1),
            case .send(let doneRequest) = try client.receive(initResponse, now: 2)
        else {
            Issue.record("the exchange did not reach MHAuth-Done")
            return
        }
        #expect(leaks(of: secrets, in: server).isEmpty, "server mid-exchange: \(leaks(of: secrets, in: server))")
        let action = server.receive(doneRequest, now: 3)
        guard case .respondAndClose(let response, _) = action else {
            Issue.record("no final response")
            return
        }
        // The final response's Content holds the keys in hex: every view of it must hide them.
        #expect(String(decoding: response.content, as: UTF8.self).contains(hexString(keys[0])))
        let block = try TVHeaderBlock(parsing: response.content)
        let message = try HACMessage(block)
        #expect(message.mnToHAEncryptionKey == keys[0])
        let values: [(String, Any)] = [
            ("PSKClient.Configuration", client.configuration), ("PSKClient", client), ("PSKServer", server),
            ("HACProvisioning", provisioning), ("HACServerAction", action), ("HACContainer", response),
            ("TVHeaderBlock", block), ("TVHeader", block.headers), ("HACMessage", message),
        ]
        for (name, value) in values {
            #expect(leaks(of: secrets, in: value).isEmpty, "\(name): \(leaks(of: secrets, in: value))")
        }
        #expect("\(message)".contains("mnToHAEncryptionKey: <20 octets, redacted>"), "\(message)")
        #expect("\(message)".contains("spi: SPI 77"), "the rest still shows: \(message)")
        #expect(block.headers.first { $0.name == "mip6-spi" }?.description.hasPrefix("mip6-spi: 77 (line ") == true)
    }
}
