// Both PSK state machines (RFC 6618 §5.8) fed hostile messages: the HAC's PSKServer by a stranger or by
// a Mobile Node that knows its PSK and signs whatever it likes, the MN's PSKClient by a hostile HAC.
//
// Input: a mode octet (bit 0: client side; bit 1: open with a genuine first message), then up to four
// messages, each: identifier, flags (bit 0: signed with the PSK as the genuine peer would), a 16-bit
// length and the message's header lines (before `auth`). Nonces and keys are fixed, so signed messages
// can carry the right mn-rand/hac-rand and reach provisioning.
//
// Invariants: nothing is provisioned by a message the PSK did not sign; what is provisioned is the known
// identity's; after the end of an exchange nothing else happens.
import FuzzSupport
import TernHAC
import TernProtocol

private let psk = [UInt8](0..<32)
private let channelBinding = [UInt8](repeating: 0x55, count: 32)
private let identity = NetworkAccessIdentifier("laptop@home.example")
private let mnRand = HACNonce(octets: [UInt8](repeating: 0x11, count: 32))
private let hacRand = HACNonce(octets: [UInt8](repeating: 0x22, count: 32))
private let dummyKey = [UInt8](repeating: 0x99, count: 32)
private let maximumMessageLength = 2048

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPSKExchange(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzedInput(data, size)
    guard let identity, let mnRand, let hacRand else { return 0 }
    let mode = input.byte()
    if mode & 1 == 0 {
        fuzzServer(&input, identity: identity, mnRand: mnRand, hacRand: hacRand, genuineInit: mode & 2 != 0)
    } else {
        fuzzClient(&input, identity: identity, mnRand: mnRand, hacRand: hacRand, genuineInit: mode & 2 != 0)
    }
    return 0
}

/// One message of the script: the container, and whether the PSK signed it.
private func nextMessage(_ input: inout FuzzedInput, role: HACRole) -> (HACContainer, signed: Bool)? {
    guard !input.isEmpty else { return nil }
    let identifier = input.byte()
    let signed = input.bool()
    var content = [UInt8](input.bytes(Int(input.uint16()) % maximumMessageLength))
    if signed {
        guard let mac = try? HACAuthenticator.authenticator(key: psk, role: role, messageOctets: content, channelBinding: channelBinding)
        else { return nil }
        content += Array("auth: \(HexEncoding.encode(mac))\r\n\r\n".utf8)
    }
    guard let container = HACContainer(identifier: identifier, content: content) else { return nil }
    return (container, signed)
}

private func fuzzServer(
    _ input: inout FuzzedInput, identity: NetworkAccessIdentifier, mnRand: HACNonce, hacRand: HACNonce, genuineInit: Bool
) {
    var server = PSKServer(
        policy: .init(), channelBinding: channelBinding, hacRand: hacRand, dummyKey: dummyKey, now: 0,
        lookup: { $0 == identity ? psk : nil },
        provision: { request throws(HACProvisioningFailure) in try provisioning(request) })
    var now: UInt64 = 1
    var closed = false
    if genuineInit {
        var client = PSKClient(configuration: .init(identity: identity, preSharedKey: psk), channelBinding: channelBinding)
        guard let initRequest = try? client.start(mnRand: mnRand, now: now) else { return }
        guard case .respond = server.receive(initRequest, now: now) else {
            fuzzCheck(false, "the server refused a genuine MHAuth-Init")
            return
        }
    }
    while let (container, signed) = nextMessage(&input, role: .mobileNode) {
        now += UInt64(input.byte()) * 1_000_000
        let action = server.receive(container, now: now)
        switch action {
        case .respond:
            fuzzCheck(!closed, "the server answered after the exchange ended")
        case .respondAndClose(_, let result), .close(let result):
            if case .provisioned(let provisioned, _) = result {
                fuzzCheck(!closed, "the server provisioned after the exchange ended")
                fuzzCheck(signed, "the server provisioned on a message the PSK did not sign")
                fuzzCheck(provisioned == identity, "the server provisioned an identity it does not know")
            }
            closed = true
        }
    }
}

private func fuzzClient(
    _ input: inout FuzzedInput, identity: NetworkAccessIdentifier, mnRand: HACNonce, hacRand: HACNonce, genuineInit: Bool
) {
    var client = PSKClient(configuration: .init(identity: identity, preSharedKey: psk), channelBinding: channelBinding)
    var now: UInt64 = 1
    guard let initRequest = try? client.start(mnRand: mnRand, now: now) else { return }
    if genuineInit {
        var server = PSKServer(
            policy: .init(), channelBinding: channelBinding, hacRand: hacRand, dummyKey: dummyKey, now: 0,
            lookup: { $0 == identity ? psk : nil },
            provision: { request throws(HACProvisioningFailure) in try provisioning(request) })
        guard case .respond(let initResponse) = server.receive(initRequest, now: now),
            case .send = try? client.receive(initResponse, now: now)
        else {
            fuzzCheck(false, "a genuine MHAuth-Init response was refused")
            return
        }
    }
    var finished = false
    while let (container, signed) = nextMessage(&input, role: .homeAgentController) {
        now += UInt64(input.byte()) * 1_000_000
        guard let step = try? client.receive(container, now: now) else { continue }
        fuzzCheck(!finished, "the client went on after it was provisioned")
        if case .provisioned(let provisioning) = step {
            fuzzCheck(signed, "the client was provisioned by a message the PSK did not sign")
            let suite = provisioning.securityAssociation.suite
            fuzzCheck(
                provisioning.securityAssociation.mnToHA.encryption.count == suite.encryptionKeyLength
                    && provisioning.securityAssociation.haToMN.integrity.count == suite.integrityKeyLength,
                "the client accepted keys of the wrong length for \(suite)")
            finished = true
        }
    }
}

/// What the HAC gives the identity it knows: the shape of the daemon's provisioning, fixed keys.
private func provisioning(_ request: HACProvisioningRequest) throws(HACProvisioningFailure) -> HACProvisioning {
    let suite = request.suite
    guard let spi = SecurityParameterIndex(rawValue: 4242) else { throw HACProvisioningFailure(reason: "no SPI") }
    let association = HACSecurityAssociation(
        spi: spi, suite: suite,
        scope: request.scope,
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
        dnsIPv4: [IPv4Address(10, 77, 0, 1)], dnsIPv6: [])
    return HACProvisioning(securityAssociation: association, bootstrap: bootstrap)
}
