import TernConfig
import TernProtocol
import Testing

@Suite("hac.limits: the controller's caps and deadlines")
struct ControllerLimitsConfigTests {
    static let keys = FakeKeyFiles(files: [:])

    static func config(_ limits: String) -> String {
        """
        tunnel: {addresses: [192.0.2.1/24]}
        hac:
          certificate: /etc/tern/hac.pem
          private-key: /etc/tern/hac.key
          home-address-pools: [192.0.2.0/24]
          home-agent-addresses: [198.18.0.1]
        \(limits)
        """
    }

    @Test("defaults when absent; every field when given")
    func parses() throws {
        let plain = try HomeAgentConfiguration.parse(Self.config(""), path: "/etc/tern/ha.yaml", keyLoader: Self.keys.load)
        #expect(try #require(plain.controller).limits == ControllerServerSettings.Limits())
        let text = Self.config(
            "  limits: {connections: 4096, connections-per-source: 8, first-record-timeout: 1, handshake-timeout: 3, exchange-timeout: 20}")
        let limits = try #require(
            try HomeAgentConfiguration.parse(text, path: "/etc/tern/ha.yaml", keyLoader: Self.keys.load).controller
        ).limits
        #expect(limits.connections == 4096 && limits.connectionsPerSource == 8)
        #expect(limits.firstRecordTimeout == 1 && limits.handshakeTimeout == 3 && limits.exchangeTimeout == 20)
    }

    @Test("out of range, inconsistent or unknown fields are refused with the field named")
    func refuses() {
        for (limits, expected) in [
            ("  limits: {connections: 10}", "not a valid connection limit (16…60000)"),
            ("  limits: {connections: 64, connections-per-source: 65}", "connections-per-source (65) is above connections (64)"),
            ("  limits: {first-record-timeout: 6, handshake-timeout: 5}", "the timeouts must not decrease"),
            ("  limits: {exchange-timeout: 0}", "not a valid exchange timeout (1…300 seconds)"),
            ("  limits: {connection: 100}", "did you mean 'connections'?"),
        ] {
            do {
                _ = try HomeAgentConfiguration.parse(Self.config(limits), path: "/etc/tern/ha.yaml", keyLoader: Self.keys.load)
                Issue.record("accepted \(limits)")
            } catch {
                #expect("\(error)".contains(expected), "\(limits): \(error)")
            }
        }
    }
}
