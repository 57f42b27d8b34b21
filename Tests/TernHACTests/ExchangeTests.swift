import Testing
import TernHAC
import TernProtocol
import TernTestSupport

/// An in-memory client ↔ server pair (RFC 6618 §5.8, Figure 4).
struct Fixture {
    static let psk = hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
    static let cb = hex("aa" + String(repeating: "55", count: 31))
    static let identity = NetworkAccessIdentifier("laptop@home.example")!
    static let mnRand = HACNonce(octets: [UInt8](repeating: 0x11, count: 32))!
    static let hacRand = HACNonce(octets: [UInt8](repeating: 0x22, count: 32))!
    static let dummy = [UInt8](repeating: 0x99, count: 32)

    static func provisioning(_ request: HACProvisioningRequest) -> HACProvisioning {
        let suite = request.suite
        let sa = HACSecurityAssociation(
            spi: SecurityParameterIndex(rawValue: 4242)!, suite: suite, scope: request.scope,
            mnToHA: HACDirectionalKeys(
                encryption: [UInt8](repeating: 1, count: suite.encryptionKeyLength),
                integrity: [UInt8](repeating: 2, count: suite.integrityKeyLength)),
            haToMN: HACDirectionalKeys(
                encryption: [UInt8](repeating: 3, count: suite.encryptionKeyLength),
                integrity: [UInt8](repeating: 4, count: suite.integrityKeyLength)),
            validityEnd: HTTPDate(secondsSince1970: 1_800_000_000))
        let bootstrap = HACBootstrap(
            homeAgentIPv4: IPv4Address("198.51.100.1"), homeAgentIPv6: IPv6Address("2001:db8::1"), port: 7872,
            homeAddressIPv4: IPv4Address("10.77.0.2"), homeAddressIPv6: IPv6Address("fd77::2"),
            homeNetworkPrefixIPv4: IPPrefix("10.77.0.0/24"), homeNetworkPrefixIPv6: IPPrefix("fd77::/64"),
            dnsIPv4: [IPv4Address("10.77.0.1")!], dnsIPv6: [IPv6Address("fd77::1")!])
        return HACProvisioning(securityAssociation: sa, bootstrap: bootstrap)
    }

    static func server(
        psk: [UInt8]? = Fixture.psk, cb: [UInt8] = Fixture.cb, policy: PSKServer.Policy = .init(), now: UInt64 = 0
    ) -> PSKServer {
        PSKServer(
            policy: policy, channelBinding: cb, hacRand: hacRand, dummyKey: dummy, now: now,
            lookup: { $0 == identity ? psk : nil }, provision: { request throws(HACProvisioningFailure) in provisioning(request) })
    }

    static func client(
        psk: [UInt8] = Fixture.psk, cb: [UInt8] = Fixture.cb, suites: [Ciphersuite] = [.aes128GCMSHA256],
        identity: NetworkAccessIdentifier = Fixture.identity
    ) -> PSKClient {
        PSKClient(
            configuration: .init(identity: identity, preSharedKey: psk, proposedSuites: suites), channelBinding: cb)
    }
}

@Suite("PSK exchange (RFC 6618 §5.8)")
struct ExchangeTests {
    @Test("RFC 6618 §5.8: a full exchange in memory gives both sides the same SA")
    func fullExchange() throws {
        var client = Fixture.client()
        var server = Fixture.server()
        let initRequest = try client.start(mnRand: Fixture.mnRand, now: 0)
        guard case .respond(let initResponse) = server.receive(initRequest, now: 1) else {
            Issue.record("server did not answer MHAuth-Init")
            return
        }
        guard case .send(let doneRequest) = try client.receive(initResponse, now: 2) else {
            Issue.record("client did not send MHAuth-Done")
            return
        }
        let action = server.receive(doneRequest, now: 3)
        guard case .respondAndClose(let doneResponse, .provisioned(let identity, let serverSide)) = action else {
            Issue.record("server did not provision: \(action) \(String(decoding: doneRequest.content, as: UTF8.self))")
            return
        }
        guard case .provisioned(let clientSide) = try client.receive(doneResponse, now: 4) else {
            Issue.record("client did not finish")
            return
        }
        #expect(identity == Fixture.identity)
        #expect(clientSide == serverSide)
        #expect(clientSide.securityAssociation.suite == .aes128GCMSHA256)
        #expect(clientSide.securityAssociation.mnToHA.integrity.isEmpty)
        #expect(clientSide.securityAssociation.mnToHA.encryption.count == 20)
        #expect(server.deadline == nil && client.deadline == nil)
    }
}
