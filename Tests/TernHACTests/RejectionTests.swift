import Testing
import TernHAC
import TernProtocol
import TernTestSupport

/// A request or response built by hand: `message` sealed with `auth` by `role` under `key` and `cb`.
func sealed(_ message: HACMessage, id: UInt8, key: [UInt8], role: HACRole, cb: [UInt8] = Fixture.cb) throws -> HACContainer {
    let content = try HACAuthenticator.seal(message.serializedHeaders(), key: key, role: role, channelBinding: cb)
    return try #require(HACContainer(identifier: id, content: content))
}

/// An MHAuth-Done as a correct MN would send it, except for what the caller changes.
func doneRequest(
    key: [UInt8] = Fixture.psk, cb: [UInt8] = Fixture.cb, mnRand: HACNonce = Fixture.mnRand,
    hacRand: HACNonce = Fixture.hacRand, suites: [Ciphersuite] = [.aes128GCMSHA256], id: UInt8 = 2
) throws -> HACContainer {
    var message = HACMessage()
    message.scope = .allTraffic
    message.suiteList = suites
    message.mnRand = mnRand
    message.hacRand = hacRand
    return try sealed(message, id: id, key: key, role: .mobileNode, cb: cb)
}

func initRequest(identity: String = "laptop@home.example", methods: [HACAuthenticationMethod] = [.psk], id: UInt8 = 1)
    throws -> HACContainer
{
    var message = HACMessage()
    message.mnID = NetworkAccessIdentifier(identity)
    message.mnRand = Fixture.mnRand
    message.authMethods = methods
    return try #require(HACContainer(identifier: id, content: message.serializedHeaders().finished()))
}

/// The server's final answer: the status it sent and its own verdict.
func finalStatus(_ action: HACServerAction, key: [UInt8] = Fixture.psk) throws -> (HACStatusCode?, HACError?, Bool) {
    guard case .respondAndClose(let container, let result) = action else { return (nil, nil, false) }
    let block = try TVHeaderBlock(parsing: container.content)
    let message = try HACMessage(block)
    let authentic = try HACAuthenticator.verify(block, key: key, role: .homeAgentController, channelBinding: Fixture.cb)
    if case .failed(let error) = result { return (message.statusCode, error, authentic) }
    return (message.statusCode, nil, authentic)
}

/// Runs the server through MHAuth-Init for `request`.
func serverAfterInit(_ server: inout PSKServer, request: HACContainer? = nil) throws -> HACContainer {
    guard case .respond(let response) = server.receive(try request ?? initRequest(), now: 1) else {
        Issue.record("MHAuth-Init not answered")
        throw HACError(.unexpectedMessage)
    }
    return response
}

@Suite("PSK exchange rejections (RFC 6618 §5.3, §5.8; DESIGN.md Interop decisions)")
struct RejectionTests {
    @Test("RFC 6618 §5.8: a wrong PSK fails on the MN (HAC's auth) and on the HAC (MN's auth, 401)")
    func wrongPSK() throws {
        var server = Fixture.server()
        var client = Fixture.client(psk: [UInt8](repeating: 7, count: 32))
        let response = try serverAfterInit(&server, request: try client.start(mnRand: Fixture.mnRand, now: 0))
        #expect(throws: HACError(.authenticationFailed, header: "auth")) { try client.receive(response, now: 1) }
        #expect(throws: HACError(.authenticationFailed, header: "auth")) { try client.receive(response, now: 1) }
        let action = server.receive(try doneRequest(key: [UInt8](repeating: 7, count: 32)), now: 2)
        let (status, error, authentic) = try finalStatus(action)
        #expect(status == .unauthorized && error?.kind == .authenticationFailed && authentic)
    }

    @Test("RFC 6618 §5.8 / RFC 5929: different channel bindings (a TLS man-in-the-middle) fail on both sides")
    func channelBinding() throws {
        let other = [UInt8](repeating: 0xEE, count: 32)
        var server = Fixture.server(cb: other)
        var client = Fixture.client()
        let response = try serverAfterInit(&server, request: try client.start(mnRand: Fixture.mnRand, now: 0))
        #expect(throws: HACError(.authenticationFailed, header: "auth")) { try client.receive(response, now: 1) }
        let action = server.receive(try doneRequest(cb: Fixture.cb), now: 2)
        guard case .respondAndClose(_, .failed(let error)) = action else {
            Issue.record("server accepted a Done bound to another certificate")
            return
        }
        #expect(error.kind == .authenticationFailed && error.status == .unauthorized)
    }

    @Test("DESIGN.md: an unknown identity looks like a wrong PSK until Done, then fails with 401")
    func unknownIdentity() throws {
        var known = Fixture.server()
        var unknown = Fixture.server()
        let knownResponse = try serverAfterInit(&known)
        let unknownResponse = try serverAfterInit(&unknown, request: try initRequest(identity: "stranger@home.example"))
        #expect(knownResponse.content.count == unknownResponse.content.count)
        let a = try TVHeaderBlock(parsing: knownResponse.content)
        let b = try TVHeaderBlock(parsing: unknownResponse.content)
        #expect(a.headers == b.headers, "same headers, same values; only auth differs")
        #expect(a.auth?.value != b.auth?.value)
        // Even an MN that knows the dummy key cannot get past Done.
        for key in [Fixture.psk, Fixture.dummy] {
            var server = Fixture.server()
            _ = try serverAfterInit(&server, request: try initRequest(identity: "stranger@home.example"))
            let (status, error, _) = try finalStatus(server.receive(try doneRequest(key: key), now: 2), key: Fixture.dummy)
            #expect(status == .unauthorized)
            #expect(error?.kind == (key == Fixture.dummy ? .unknownIdentity : .authenticationFailed))
        }
    }

    @Test("RFC 6618 §5.1, §5.3: replayed or reordered Identifiers are refused with 400")
    func identifiers() throws {
        var server = Fixture.server()
        let (status, error, _) = try finalStatus(server.receive(try initRequest(id: 2), now: 1), key: Fixture.dummy)
        #expect(status == .badRequest && error?.kind == .unexpectedIdentifier(expected: 1, received: 2))

        var replay = Fixture.server()
        _ = try serverAfterInit(&replay)
        let (status2, error2, authentic) = try finalStatus(replay.receive(try initRequest(), now: 2))
        #expect(status2 == .badRequest && error2?.kind == .unexpectedIdentifier(expected: 2, received: 1) && authentic)
        #expect(replay.receive(try doneRequest(), now: 3) == .close(.failed(HACError(.unexpectedMessage))))

        var client = Fixture.client()
        var fresh = Fixture.server()
        let response = try serverAfterInit(&fresh, request: try client.start(mnRand: Fixture.mnRand, now: 0))
        let reordered = try #require(HACContainer(identifier: 2, content: response.content))
        #expect(throws: HACError(.unexpectedIdentifier(expected: 1, received: 2))) { try client.receive(reordered, now: 1) }

        var client2 = Fixture.client()
        var server2 = Fixture.server()
        let response2 = try serverAfterInit(&server2, request: try client2.start(mnRand: Fixture.mnRand, now: 0))
        _ = try client2.receive(response2, now: 1)
        #expect(throws: HACError(.unexpectedIdentifier(expected: 2, received: 1))) { try client2.receive(response2, now: 2) }
    }

    @Test("RFC 6618 §5.8: mismatched nonces fail on both sides")
    func nonces() throws {
        let other = HACNonce(octets: [UInt8](repeating: 0x33, count: 32))!
        for (mnRand, hacRand, header) in [(other, Fixture.hacRand, "mn-rand"), (Fixture.mnRand, other, "hac-rand")] {
            var server = Fixture.server()
            _ = try serverAfterInit(&server)
            let (status, error, _) = try finalStatus(server.receive(try doneRequest(mnRand: mnRand, hacRand: hacRand), now: 2))
            #expect(status == .unauthorized && error == HACError(.nonceMismatch, header: header))
        }
        // The MN: an Init response echoing another mn-rand.
        var client = Fixture.client()
        _ = try client.start(mnRand: other, now: 0)
        var server = Fixture.server()
        let response = try serverAfterInit(&server)
        #expect(throws: HACError(.nonceMismatch, header: "mn-rand")) { try client.receive(response, now: 1) }
    }

    @Test("RFC 6618 §5.5.2, §5.6.5: no common method or suite is 501; the MN refuses a suite it did not offer")
    func notImplemented() throws {
        var eapOnly = Fixture.server()
        let (status, error, _) = try finalStatus(eapOnly.receive(try initRequest(methods: [.eap]), now: 1))
        #expect(status == .notImplemented && error?.kind == .noAcceptableMethod)

        var server = Fixture.server()
        _ = try serverAfterInit(&server)
        let (status2, error2, _) = try finalStatus(server.receive(try doneRequest(suites: [.nullSHA]), now: 2))
        #expect(status2 == .notImplemented && error2?.kind == .noAcceptableSuite)

        // A HAC that answers with a suite the MN did not list.
        var client = Fixture.client(suites: [.aes128GCMSHA256])
        var honest = Fixture.server()
        let initResponse = try serverAfterInit(&honest, request: try client.start(mnRand: Fixture.mnRand, now: 0))
        _ = try client.receive(initResponse, now: 1)
        var message = HACMessage()
        Fixture.apply(Fixture.provisioning(.init(identity: Fixture.identity, suite: .aes128CBCSHA, scope: .allTraffic)), to: &message)
        let forged = try sealed(message, id: 2, key: Fixture.psk, role: .homeAgentController)
        #expect(throws: HACError(.noAcceptableSuite, header: "mip6-ciphersuite")) { try client.receive(forged, now: 2) }
    }

    @Test("RFC 6618 §5.5.4: error statuses reach the MN, saying whether they were authenticated")
    func statuses() throws {
        var server = PSKServer(
            channelBinding: Fixture.cb, hacRand: Fixture.hacRand, dummyKey: Fixture.dummy, now: 0,
            lookup: { _ in Fixture.psk },
            provision: { _ throws(HACProvisioningFailure) in
                throw HACProvisioningFailure(status: .serviceUnavailable, retryAfter: HTTPDate(secondsSince1970: 1000), reason: "pool empty")
            })
        var client = Fixture.client()
        let initResponse = try serverAfterInit(&server, request: try client.start(mnRand: Fixture.mnRand, now: 0))
        guard case .send(let done) = try client.receive(initResponse, now: 1),
            case .respondAndClose(let final, _) = server.receive(done, now: 2)
        else {
            Issue.record("exchange did not reach Done")
            return
        }
        #expect(try HACMessage(parsing: final.content).retryAfter == HTTPDate(secondsSince1970: 1000))
        #expect(throws: HACError(.rejected(.serviceUnavailable, authenticated: true), header: "status-code")) {
            try client.receive(final, now: 3)
        }
        // An unauthenticated 400 (e.g. from a HAC that does not know us) is still shown, marked as such.
        var client2 = Fixture.client()
        _ = try client2.start(mnRand: Fixture.mnRand, now: 0)
        var message = HACMessage()
        message.statusCode = .badRequest
        let refusal = try sealed(message, id: 1, key: Fixture.dummy, role: .homeAgentController)
        #expect(throws: HACError(.rejected(.badRequest, authenticated: false), header: "status-code")) {
            try client2.receive(refusal, now: 1)
        }
    }

    @Test("DESIGN.md AEAD keys: key headers follow the suite; wrong lengths are refused on both sides")
    func keyLengths() throws {
        for suite in Ciphersuite.allCases {
            let provisioning = Fixture.provisioning(.init(identity: Fixture.identity, suite: suite, scope: .signalingOnly))
            var message = HACMessage()
            Fixture.apply(provisioning, to: &message)
            #expect((message.mnToHAEncryptionKey == nil) == (suite.encryption == .null), "\(suite)")
            #expect((message.mnToHAIntegrityKey == nil) == suite.isAEAD, "\(suite)")
        }
        // The MN ignores an ekey for a NULL suite, refuses a short ikey.
        func finish(_ edit: (inout HACMessage) -> Void, suite: Ciphersuite) throws -> HACClientStep {
            var client = Fixture.client(suites: [suite])
            var server = Fixture.server(policy: .init(suitePreference: [suite]))
            let initResponse = try serverAfterInit(&server, request: try client.start(mnRand: Fixture.mnRand, now: 0))
            _ = try client.receive(initResponse, now: 1)
            var message = HACMessage()
            Fixture.apply(Fixture.provisioning(.init(identity: Fixture.identity, suite: suite, scope: .allTraffic)), to: &message)
            edit(&message)
            return try client.receive(try sealed(message, id: 2, key: Fixture.psk, role: .homeAgentController), now: 2)
        }
        let step = try finish({ $0.mnToHAEncryptionKey = [1, 2, 3] }, suite: .nullSHA)
        guard case .provisioned(let result) = step else {
            Issue.record("NULL suite with a stray ekey refused")
            return
        }
        #expect(result.securityAssociation.mnToHA.encryption.isEmpty)
        #expect(throws: HACError(.wrongKeyLength(expected: 20, received: 19), header: "mip6-ha-to-mn-ikey")) {
            try finish({ $0.haToMNIntegrityKey = [UInt8](repeating: 0, count: 19) }, suite: .aes128CBCSHA)
        }
        #expect(throws: HACError(.wrongKeyLength(expected: 20, received: 16), header: "mip6-mn-to-ha-ekey")) {
            try finish({ $0.mnToHAEncryptionKey = [UInt8](repeating: 0, count: 16) }, suite: .aes128GCMSHA256)
        }
        #expect(throws: HACError(.missingHeader, header: "mip6-spi")) { try finish({ $0.spi = nil }, suite: .aes128GCMSHA256) }

        // A provisioner handing out a wrong key length is the HAC's bug: 500.
        var server = PSKServer(
            channelBinding: Fixture.cb, hacRand: Fixture.hacRand, dummyKey: Fixture.dummy, now: 0, lookup: { _ in Fixture.psk },
            provision: { request throws(HACProvisioningFailure) in
                var p = Fixture.provisioning(request)
                p.securityAssociation.haToMN.encryption.removeLast()
                return p
            })
        _ = try serverAfterInit(&server)
        let (status, _, _) = try finalStatus(server.receive(try doneRequest(), now: 2))
        #expect(status == .internalServerError)
    }

    @Test("RFC 6618 §5.6.4: the HAC mandates the scope; suite chosen by the HAC's preference")
    func policy() throws {
        var client = Fixture.client(suites: [.aes128CBCSHA, .chacha20Poly1305SHA256, .aes128GCMSHA256])
        var server = Fixture.server(policy: .init(suitePreference: [.chacha20Poly1305SHA256, .aes128CBCSHA], scope: .always(.signalingOnly)))
        let initResponse = try serverAfterInit(&server, request: try client.start(mnRand: Fixture.mnRand, now: 0))
        guard case .send(let done) = try client.receive(initResponse, now: 1),
            case .respondAndClose(let final, .provisioned(_, let serverSide)) = server.receive(done, now: 2),
            case .provisioned(let clientSide) = try client.receive(final, now: 3)
        else {
            Issue.record("exchange failed")
            return
        }
        #expect(clientSide == serverSide)
        #expect(clientSide.securityAssociation.suite == .chacha20Poly1305SHA256)
        #expect(clientSide.securityAssociation.scope == .signalingOnly)
    }

    @Test("RFC 6618 §5.1: oversized, truncated or malformed requests get 400 with auth, then close")
    func malformed() throws {
        var decoder = HACContainerDecoder()
        var server = Fixture.server()
        do {
            try decoder.append([0, 1, 0xFF, 0xFF])
            _ = try decoder.next()
            Issue.record("oversized container accepted")
        } catch {
            let (status, verdict, authentic) = try finalStatus(server.fail(error, now: 1), key: Fixture.dummy)
            #expect(status == .badRequest && verdict == error && authentic)
        }
        var server2 = Fixture.server()
        let garbage = try #require(HACContainer(identifier: 1, content: Array("mn-id: a@b\n\n".utf8)))
        let (status, error, _) = try finalStatus(server2.receive(garbage, now: 1), key: Fixture.dummy)
        #expect(status == .badRequest && error?.kind == .bareLineBreak)
        var server3 = Fixture.server()
        let noIdentity = try #require(HACContainer(identifier: 1, content: Array("auth-method: psk\r\n\r\n".utf8)))
        let (status3, error3, _) = try finalStatus(server3.receive(noIdentity, now: 1), key: Fixture.dummy)
        #expect(status3 == .badRequest && error3 == HACError(.missingHeader, header: "mn-id"))
    }

    @Test("RFC 6618 §5.3: a peer that stops mid-exchange times out on both sides")
    func timeout() throws {
        let second: UInt64 = 1_000_000_000
        var server = Fixture.server(now: 100 * second)
        #expect(server.deadline == 110 * second)
        #expect(server.checkDeadline(now: 109 * second) == nil)
        _ = try serverAfterInit(&server)  // at t = 1 ns: well before the deadline
        #expect(server.deadline == 10 * second + 1)
        #expect(server.checkDeadline(now: 10 * second + 1) == .close(.failed(HACError(.timeout))))
        #expect(server.deadline == nil)
        #expect(server.receive(try doneRequest(), now: 10 * second + 2) == .close(.failed(HACError(.unexpectedMessage))))

        var late = Fixture.server()
        #expect(late.receive(try initRequest(), now: 10 * second) == .close(.failed(HACError(.timeout))))

        var client = Fixture.client()
        _ = try client.start(mnRand: Fixture.mnRand, now: 5)
        #expect(client.deadline == 10 * second + 5)
        #expect(throws: Never.self) { try client.checkDeadline(now: 10 * second + 4) }
        #expect(throws: HACError(.timeout)) { try client.checkDeadline(now: 10 * second + 5) }
        var server2 = Fixture.server()
        let response = try serverAfterInit(&server2)
        #expect(throws: HACError(.timeout)) { try client.receive(response, now: 1) }
    }

    @Test("RFC 6618 §5.8: fuzzed requests never trap the HAC and never provision")
    func fuzzServer() throws {
        var generator = SeededRandom(seed: 5433)
        let init1 = try initRequest().content
        let done = try doneRequest().content
        for round in 0..<1500 {
            var server = Fixture.server()
            var content = round % 2 == 0 ? init1 : done
            if round % 2 == 1 { _ = try serverAfterInit(&server) }
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                let at = Int.random(in: 0..<content.count, using: &generator)
                content[at] = UInt8.random(in: 0...255, using: &generator)
            }
            guard let container = HACContainer(identifier: UInt8(round % 2 + 1), content: content) else { continue }
            let action = server.receive(container, now: 2)
            if case .respondAndClose(_, .provisioned) = action, round % 2 == 1 {
                // A mutation that leaves the authenticated octets intact (e.g. in the final CRLF's
                // neighbourhood) cannot provision unless auth still verifies; flipping auth itself must fail.
                let block = try? TVHeaderBlock(parsing: content)
                #expect(block?.authenticatedOctets == (try TVHeaderBlock(parsing: done)).authenticatedOctets)
            }
        }
    }
}

extension Fixture {
    /// HACProvisioning.apply is internal; rebuild the response headers the way the HAC writes them.
    static func apply(_ p: HACProvisioning, to m: inout HACMessage) {
        let sa = p.securityAssociation
        m.scope = sa.scope
        m.ciphersuite = sa.suite
        m.spi = sa.spi
        if sa.suite.integrityKeyLength > 0 {
            m.mnToHAIntegrityKey = sa.mnToHA.integrity
            m.haToMNIntegrityKey = sa.haToMN.integrity
        }
        if sa.suite.encryptionKeyLength > 0 {
            m.mnToHAEncryptionKey = sa.mnToHA.encryption
            m.haToMNEncryptionKey = sa.haToMN.encryption
        }
        m.validityEnd = sa.validityEnd
        m.port = p.bootstrap.port
        m.mnRand = mnRand
        m.hacRand = hacRand
        m.statusCode = .ok
    }
}
