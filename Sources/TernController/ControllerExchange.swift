import Foundation
import TernCrypto
import TernHAC
import TernOS
import TernProtocol
import TernStore
import TernTLS

/// The event loop's exchange steps: the PSK server of a connection, what its actions do, and how a
/// connection ends (counted, logged through ``EventSummary``, its SA kept or taken back).
extension HomeAgentControllerService {
    func makeServer(for connection: ControllerConnection, now: UInt64) -> PSKServer? {
        guard let nonce = try? SecureRandom.bytes(count: 32), let hacRand = HACNonce(octets: nonce) else { return nil }
        let provisioner = connection.provisioner
        let source = connection.source
        return PSKServer(
            policy: PSKServer.Policy(
                suitePreference: settings.suitePreference, scope: settings.scope,
                requestTimeout: ConnectionAdmission.nanoseconds(settings.limits.exchangeSeconds)),
            channelBinding: connection.session.tlsServerEndPoint, hacRand: hacRand, dummyKey: dummyKey, now: now,
            lookup: { [store] identity in (try? store.preSharedKey(for: identity.text)) ?? nil },
            provision: { (request) throws(HACProvisioningFailure) in try provisioner.provision(request) },
            admission: { [unowned self, unowned connection] identity in
                connection.identity = identity.text
                let wall = Date().timeIntervalSince1970
                switch loop.throttle.verdict(identity: identity.text, source: source, now: wall) {
                case .evaluate(let delay):
                    connection.failureDelaySeconds = delay
                    connection.evaluated = true
                    return nil
                case .refuse(let seconds):
                    counters.add(.throttled)
                    return HTTPDate(secondsSince1970: Int64((wall + seconds).rounded(.up)))
                }
            })
    }

    func apply(_ action: HACServerAction, to connection: ControllerConnection, now: UInt64) throws(TLSError) {
        switch action {
        case .respond(let response):
            try connection.session.queue(response.encoded(), scratch: loop.scratch)
        case .respondAndClose(let response, let result):
            switch result {
            case .provisioned(let identity, _):
                // Make before break: the SA is in the data plane before the MN can use it.
                if let issued = connection.provisioner.issued { lifecycle.install(issued.association, issued.homeAddresses) }
                loop.admission.advance(connection.id, to: .authenticated, now: now)
                connection.evaluated = false
                loop.throttle.recordSuccess(identity: identity.text, source: connection.source, now: Date().timeIntervalSince1970)
            case .failed(let error):
                if error.status == .unauthorized, connection.evaluated {
                    recordFailure(connection)
                    if connection.failureDelaySeconds > 0 {
                        connection.stage = .holding(
                            until: now &+ ConnectionAdmission.nanoseconds(connection.failureDelaySeconds),
                            response: response, result: result)
                        loop.holds.insert(connection.id)
                        return
                    }
                }
            }
            try send(response, result, on: connection)
        case .close(let result):
            connection.provisioner.abandon()
            if case .failed(let error) = result {
                finish(connection, outcome: HACExchangeOutcome(error), reason: "\(error)", category: Self.category(error))
            } else {
                finish(connection, outcome: .serverError, reason: "closed without an answer", category: "internal error")
            }
            discard(connection.id)
        }
    }

    /// Queues the final response and close_notify; ``settle(_:now:)`` completes once they are sent.
    func send(_ response: HACContainer, _ result: HACServerResult, on connection: ControllerConnection) throws(TLSError) {
        connection.stage = .closing(result)
        try connection.session.queue(response.encoded(), scratch: loop.scratch)
        try connection.session.queueShutdown(scratch: loop.scratch)
    }

    /// After a step: a final response fully handed to the kernel completes the exchange; the socket is
    /// watched for writability only while output waits.
    func settle(_ connection: ControllerConnection, now: UInt64) {
        guard loop.connections[connection.id] != nil else { return }
        completeIfSent(connection)
        let wantWrite = connection.session.hasPendingOutput
        if wantWrite != connection.watchingWrite {
            connection.watchingWrite = wantWrite
            try? loop.poll.modify(
                connection.tcp.descriptor.rawValue, token: connection.id,
                interest: wantWrite ? [.readable, .writable] : .readable)
        }
    }

    /// Once the final response is all in the kernel's hands: the exchange is complete, whatever the
    /// peer does next (it may close at once, before the loop reads again).
    func completeIfSent(_ connection: ControllerConnection) {
        guard case .closing(let result) = connection.stage, !connection.session.hasPendingOutput else { return }
        try? connection.tcp.shutdownWrite()
        connection.stage = .lingering
        complete(connection, result)
    }

    /// The final response went out: commit what was provisioned, or count the failure.
    private func complete(_ connection: ControllerConnection, _ result: HACServerResult) {
        switch result {
        case .provisioned(let identity, _):
            guard let issued = connection.provisioner.issued else {
                finish(connection, outcome: .serverError, reason: "provisioned \(identity.text) without an SA", category: "internal error")
                return
            }
            // The MN has its SA: older ones of the same MN retire (they stay in the data plane for the
            // grace period of a make-before-break switch).
            try? store.retireSecurityAssociations(
                of: issued.association.identity, except: issued.association.securityParameterIndex,
                at: Date().timeIntervalSince1970)
            lifecycle.commit(issued.association)
            counters.add(.provisioned)
            HACExchangeOutcome.ok.count()
            events(
                .provisioned(
                    identity: identity.text, spi: issued.association.securityParameterIndex,
                    suite: issued.association.suite, homeAddresses: issued.homeAddresses, peer: connection.peer))
        case .failed(let error):
            let reason =
                error.status == .serviceUnavailable
                ? "PSK attempts for \(connection.identity ?? "?") from \(connection.source) throttled: answered 503 with retry-after"
                : "\(error)"
            finish(connection, outcome: HACExchangeOutcome(error), reason: reason, category: Self.category(error))
        }
    }

    /// A connection failed before its exchange completed: what it was given goes back.
    func fail(_ connection: ControllerConnection, _ error: ControllerError, now: UInt64) {
        completeIfSent(connection)
        if case .lingering = connection.stage { return discard(connection.id) }
        abandon(connection)
        let category = if case .transport(let tls) = error { tls.kind == .peerClosed ? "closed early" : "TLS failure" } else { "error" }
        finish(connection, outcome: HACExchangeOutcome(error), reason: "\(error)", category: category)
        discard(connection.id)
    }

    /// The admission policy closes `id` (shed for room, or past a deadline).
    func end(_ id: ConnectionAdmission.ID, reason: ConnectionAdmission.Reason, now: UInt64) {
        guard let connection = loop.connections[id] else { return }
        if case .lingering = connection.stage { return discard(id) }
        abandon(connection)
        recordFailure(connection)
        switch reason {
        case .shedSourceLimit, .shedGlobalLimit:
            counters.add(.shed)
            HACExchangeOutcome.refused.count()
            note(source: connection.source.description, peer: connection.peer, reason: reason.rawValue, category: reason.rawValue, refused: true)
        case .firstRecordTimeout, .handshakeTimeout, .exchangeTimeout, .lingerTimeout:
            counters.add(.timedOut)
            HACExchangeOutcome.timeout.count()
            note(source: connection.source.description, peer: connection.peer, reason: reason.rawValue, category: reason.rawValue, refused: false)
        }
        discard(id)
    }

    private func abandon(_ connection: ControllerConnection) {
        if let issued = connection.provisioner.issued {
            if case .lingering = connection.stage { return }
            lifecycle.abandon(issued.association)
            connection.provisioner.abandon()
        }
    }

    /// Counts a failed attempt for the throttle, once per connection: a 401, or an exchange abandoned
    /// after MHAuth-Init (a guesser can check a key against the HAC's first `auth` and stop there).
    private func recordFailure(_ connection: ControllerConnection) {
        guard connection.evaluated, let identity = connection.identity else { return }
        connection.evaluated = false
        loop.throttle.recordFailure(identity: identity, source: connection.source, now: Date().timeIntervalSince1970)
    }

    private func finish(_ connection: ControllerConnection, outcome: HACExchangeOutcome, reason: String, category: String) {
        recordFailure(connection)
        counters.add(.failed)
        outcome.count()
        note(source: connection.source.description, peer: connection.peer, reason: reason, category: category, refused: false)
    }

    /// Closes a connection without further accounting.
    func discard(_ id: ConnectionAdmission.ID) {
        guard let connection = loop.connections.removeValue(forKey: id) else { return }
        loop.poll.remove(connection.tcp.descriptor.rawValue)
        loop.admission.remove(id)
        loop.holds.remove(id)
    }

    /// Logs the first event of its source and category in the summary's window in full; the rest are
    /// counted into the window's summary line.
    func note(source: String, peer: String, reason: String, category: String, refused: Bool) {
        guard loop.summary.record(source: source, reason: category, now: monotonicNanoseconds()) else { return }
        events(refused ? .refused(peer: peer, reason: reason) : .failed(peer: peer, reason: reason))
    }

    /// The summary's name for how an exchange failed.
    static func category(_ error: HACError) -> String {
        switch error.status {
        case .unauthorized: "unauthorized"
        case .serviceUnavailable: "throttled (503, retry-after)"
        case .gatewayTimeout: "timeout: exchange"
        case .notImplemented: "not implemented"
        case .badRequest, .continueExchange: "bad request"
        case .internalServerError: "internal error"
        case .ok: "ok"
        }
    }
}
