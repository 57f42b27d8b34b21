import TernController
import TernProtocol
import TernTLS
import Testing

@Suite("HAC exchange outcomes (tern_hac_exchanges_total)")
struct HACExchangeOutcomeTests {
    @Test("each RFC 6618 status and each local failure has its outcome")
    func classification() {
        #expect(HACExchangeOutcome(status: .ok) == .ok)
        #expect(HACExchangeOutcome(status: .badRequest) == .badRequest)
        #expect(HACExchangeOutcome(status: .unauthorized) == .unauthorized)
        #expect(HACExchangeOutcome(status: .notImplemented) == .notImplemented)
        #expect(HACExchangeOutcome(status: .internalServerError) == .serverError)
        #expect(HACExchangeOutcome(status: .serviceUnavailable) == .serverError)
        #expect(HACExchangeOutcome(status: .gatewayTimeout) == .timeout)
        #expect(HACExchangeOutcome(HACError(.authenticationFailed)) == .unauthorized)
        #expect(HACExchangeOutcome(HACError(.unknownIdentity)) == .unauthorized)
        #expect(HACExchangeOutcome(HACError(.noAcceptableSuite)) == .notImplemented)
        #expect(HACExchangeOutcome(HACError(.malformedLine)) == .badRequest)
        #expect(HACExchangeOutcome(HACError(.timeout)) == .timeout)
        #expect(HACExchangeOutcome(HACError(.rejected(.unauthorized, authenticated: true))) == .unauthorized)
        #expect(HACExchangeOutcome(ControllerError.framing(HACError(.truncated(needed: 4, had: 1)))) == .badRequest)
        #expect(HACExchangeOutcome(ControllerError.transport(TLSError(.verification, "handshake", detail: ""))) == .tlsFailure)
        #expect(HACExchangeOutcome(ControllerError.transport(TLSError(.timeout, "read", detail: ""))) == .timeout)
        #expect(HACExchangeOutcome(ControllerError.store("disk full")) == .serverError)
        #expect(Set(HACExchangeOutcome.allCases.map(\.rawValue)) == [
            "ok", "bad_request", "unauthorized", "not_implemented", "server_error", "tls_failure", "timeout", "refused",
        ])
    }
}
