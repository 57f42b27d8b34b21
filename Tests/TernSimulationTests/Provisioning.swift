import TernController
import TernDataChannel
import TernHAC
import TernProtocol
import TernTestSupport

/// Provisions one Mobile Node's SA through the real PSK exchange (RFC 6618 §5.8): `PSKClient` and
/// `PSKServer` in memory, the nonces, PSK, channel binding and keys drawn from the seed; the HAC's
/// provisioner hands out `spi`. Both sides must end with the same SA, or the simulation says why.
enum SimulatedController {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func provision(
        mobileNode: Int, spi: SecurityParameterIndex, homeAddress: IPv4Address, random: inout SeededRandom
    ) throws -> SecurityAssociation {
        guard let identity = NetworkAccessIdentifier("mn\(mobileNode)@sim.example"),
            let mnRand = HACNonce(octets: random.bytes(32)), let hacRand = HACNonce(octets: random.bytes(32))
        else { throw Failure(description: "bad identity or nonce") }
        let psk = random.bytes(32)
        let binding = random.bytes(32)
        let suite = Ciphersuite.aes128GCMSHA256
        let keys = (random.bytes(suite.encryptionKeyLength), random.bytes(suite.encryptionKeyLength))
        let provisioned = HACSecurityAssociation(
            spi: spi, suite: suite, scope: .allTraffic,
            mnToHA: HACDirectionalKeys(encryption: keys.0, integrity: []),
            haToMN: HACDirectionalKeys(encryption: keys.1, integrity: []), validityEnd: nil)
        var server = PSKServer(
            channelBinding: binding, hacRand: hacRand, dummyKey: random.bytes(32), now: 0,
            lookup: { $0 == identity ? psk : nil },
            provision: { _ throws(HACProvisioningFailure) in
                HACProvisioning(securityAssociation: provisioned, bootstrap: HACBootstrap(homeAddressIPv4: homeAddress))
            })
        var client = PSKClient(configuration: .init(identity: identity, preSharedKey: psk), channelBinding: binding)
        let initRequest = try client.start(mnRand: mnRand, now: 0)
        guard case .respond(let initResponse) = server.receive(initRequest, now: 1),
            case .send(let doneRequest) = try client.receive(initResponse, now: 2),
            case .respondAndClose(let doneResponse, .provisioned(_, let serverSide)) = server.receive(doneRequest, now: 3),
            case .provisioned(let clientSide) = try client.receive(doneResponse, now: 4)
        else { throw Failure(description: "the PSK exchange did not provision mn\(mobileNode)") }
        guard clientSide == serverSide, clientSide.bootstrap.homeAddressIPv4 == homeAddress else {
            throw Failure(description: "MN and HAC disagree on what was provisioned for mn\(mobileNode)")
        }
        return try SecurityAssociation(clientSide.securityAssociation)
    }
}
