import CoreMetrics
import Foundation
import TernMetrics
import TernOS
import TernProtocol
import TernTunnel
import Testing

/// swift-metrics is bootstrapped once per process, so every test here runs as the Mobile Node (`role="mn"`),
/// one after another, and reads changes (after − before) rather than absolute values.
@Suite("Metrics: the endpoint and what it exports", .serialized)
struct MetricsTests {
    /// One endpoint for the suite (it also bootstraps the metrics system).
    static let endpoint: MetricsEndpoint? = try? MetricsEndpoint(
        listen: SocketAddress(.v4(IPv4Address(127, 0, 0, 1)), port: 0), role: .mobileNode, events: { _ in })

    /// A scrape over loopback, as Prometheus does it: the body of `GET /metrics`.
    static func scrape() throws -> String {
        let endpoint = try #require(endpoint)
        let connection = try TCPConnection.connect(to: endpoint.address, deadline: .after(seconds: 2))
        try Array("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".utf8).withUnsafeBytes {
            try connection.write($0, deadline: .after(seconds: 2))
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = try buffer.withUnsafeMutableBytes { try connection.read(into: $0, deadline: .after(seconds: 2)) }
            if count == 0 { break }
            received += buffer[..<count]
        }
        let text = String(decoding: received, as: UTF8.self)
        let parts = text.components(separatedBy: "\r\n\r\n")
        #expect(parts.first?.hasPrefix("HTTP/1.1 200 OK") == true, "\(parts.first ?? "")")
        return parts.dropFirst().joined(separator: "\r\n\r\n")
    }

    /// The value of one series (`name{labels}` exactly as exposed), or nil when absent.
    static func value(_ series: String, in exposition: String) -> Double? {
        for line in exposition.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    @Test("a scrape shows tern_build_info with the version and the role, in the text format")
    func buildInfo() throws {
        let text = try Self.scrape()
        #expect(Self.value("tern_build_info{role=\"mn\",version=\"\(TernMetricsSystem.version)\"}", in: text) == 1, "\(text)")
        #expect(text.contains("# TYPE tern_build_info gauge"))
    }

    @Test("the data plane's counters: what grew since the last scrape is added, every drop reason is there")
    func tunnelCounters() throws {
        let before = try Self.scrape()
        let metrics = TunnelMetrics()
        var counters = TunnelCounters()
        counters.packetsSent = 10
        counters.octetsSent = 1400
        counters.packetsReceived = 7
        counters.octetsReceived = 700
        counters.keepalivesSent = 2
        counters.mobilityHeadersReceived = 3
        counters.drop(.authenticationFailed)
        counters.drop(.noPathToHomeAgent)
        counters.superPacketsRead = 4
        counters.superPacketsWritten = 6
        counters.cryptoBatchesSplit = 9
        metrics.update(counters)
        counters.packetsSent = 25
        counters.cryptoBatchesSplit = 11
        counters.drop(.authenticationFailed)
        metrics.update(counters)
        metrics.update(counters)  // nothing grew: nothing added
        let after = try Self.scrape()
        func growth(_ series: String) -> Double {
            (Self.value(series, in: after) ?? -1) - (Self.value(series, in: before) ?? 0)
        }
        #expect(growth("tern_packets_sent_total{role=\"mn\"}") == 25)
        #expect(growth("tern_bytes_sent_total{role=\"mn\"}") == 1400)
        #expect(growth("tern_packets_received_total{role=\"mn\"}") == 7)
        #expect(growth("tern_bytes_received_total{role=\"mn\"}") == 700)
        #expect(growth("tern_keepalives_sent_total{role=\"mn\"}") == 2)
        #expect(growth("tern_mobility_headers_received_total{role=\"mn\"}") == 3)
        #expect(growth("tern_super_packets_read_total{role=\"mn\"}") == 4)
        #expect(growth("tern_super_packets_written_total{role=\"mn\"}") == 6)
        #expect(growth("tern_crypto_batches_split_total{role=\"mn\"}") == 11)
        #expect(growth("tern_drops_total{role=\"mn\",reason=\"authentication_failed\"}") == 2)
        #expect(growth("tern_drops_total{role=\"mn\",reason=\"no_path_to_home_agent\"}") == 1)
        #expect(growth("tern_drops_total{role=\"mn\",reason=\"replayed\"}") == 0)
        for label in DataChannelDropReason.allCases.map(\.label) + TunnelDropReason.allCases.map(\.label) {
            #expect(Self.value("tern_drops_total{role=\"mn\",reason=\"\(label)\"}", in: after) != nil, "\(label)")
        }
        #expect(after.contains("# TYPE tern_drops_total counter"))
    }

    @Test("handovers: counted by trigger; detection → BA and → first data in second buckets from 0.5 ms to 5 s")
    func handovers() throws {
        let before = try Self.scrape()
        HandoverMetrics.record(trigger: .pathChange, acknowledgedAfterMilliseconds: 0.8, firstDataAfterMilliseconds: 30)
        HandoverMetrics.record(trigger: .pathChange, acknowledgedAfterMilliseconds: 7000, firstDataAfterMilliseconds: nil)
        HandoverMetrics.record(trigger: .resume, acknowledgedAfterMilliseconds: nil, firstDataAfterMilliseconds: nil)
        let after = try Self.scrape()
        func growth(_ series: String) -> Double {
            (Self.value(series, in: after) ?? -1) - (Self.value(series, in: before) ?? 0)
        }
        let path = "role=\"mn\",trigger=\"path-change\""
        #expect(growth("tern_handovers_total{\(path)}") == 2)
        #expect(growth("tern_handovers_total{role=\"mn\",trigger=\"resume\"}") == 1)
        #expect(growth("tern_handover_acknowledged_seconds_count{\(path)}") == 2)
        #expect(growth("tern_handover_acknowledged_seconds_bucket{\(path),le=\"0.0005\"}") == 0)
        #expect(growth("tern_handover_acknowledged_seconds_bucket{\(path),le=\"0.001\"}") == 1)
        #expect(growth("tern_handover_acknowledged_seconds_bucket{\(path),le=\"5.0\"}") == 1)
        #expect(growth("tern_handover_acknowledged_seconds_bucket{\(path),le=\"+Inf\"}") == 2)
        #expect(growth("tern_handover_first_data_seconds_count{\(path)}") == 1)
        #expect(growth("tern_handover_first_data_seconds_bucket{\(path),le=\"0.05\"}") == 1)
        #expect(after.contains("# TYPE tern_handover_acknowledged_seconds histogram"), "\(after)")
    }

    @Test("gauges: SAs and live bindings (HA), registration and SA expiry (MN)")
    func gauges() throws {
        HomeAgentMetrics.record(securityAssociations: 3, liveBindings: 2)
        MobileNodeMetrics.record(registered: true, securityAssociationExpirySeconds: 86_000.5)
        var text = try Self.scrape()
        #expect(Self.value("tern_security_associations{role=\"mn\"}", in: text) == 3)
        #expect(Self.value("tern_bindings{role=\"mn\"}", in: text) == 2)
        #expect(Self.value("tern_binding_registered{role=\"mn\"}", in: text) == 1)
        #expect(Self.value("tern_security_association_expiry_seconds{role=\"mn\"}", in: text) == 86_000.5)
        MobileNodeMetrics.record(registered: false, securityAssociationExpirySeconds: nil)
        text = try Self.scrape()
        #expect(Self.value("tern_binding_registered{role=\"mn\"}", in: text) == 0)
    }

    @Test("collectors run at each scrape, on the endpoint's thread")
    func collectors() throws {
        let endpoint = try #require(Self.endpoint)
        let calls = Calls()
        endpoint.addCollector { calls.add() }
        _ = try Self.scrape()
        _ = try Self.scrape()
        #expect(calls.count == 2)
    }

    private final class Calls: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        func add() { lock.withLock { value += 1 } }
        var count: Int { lock.withLock { value } }
    }
}
