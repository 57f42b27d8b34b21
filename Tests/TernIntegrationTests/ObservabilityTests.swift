import Foundation
import Testing

/// Metrics and logs of running daemons, in network namespaces: the Prometheus endpoints answer from
/// loopback inside their namespaces with the same counters `tern status` reports, nothing listens where
/// `metrics:` is absent, and no key appears in any log line at the most verbose level.
@Suite("Metrics and logs in network namespaces", .serialized)
struct ObservabilityTests {
    static let prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"

    @Test("HA and MN export packets, bytes, drops, bindings and handovers; no metrics: no socket; no key in the logs")
    func metricsEndpoints() throws {
        guard requireRoot() else { return }
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        do {
            let topology = try Topology(lab: lab, mobileNodes: 2)
            // The HA on the default endpoint, mn0 on IPv6 loopback, mn1 without metrics.
            let deployment = try TernDeployment(
                topology: topology, associations: [TestSecurityAssociation(spi: 4660), TestSecurityAssociation(spi: 4661)],
                haExtra: "metrics:\n", mnExtra: ["metrics:\n  listen: \"[::1]:9588\"\n", ""],
                arguments: ["--log-level", "trace"])
            let ping = try deployment.ping(Topology.cn4, count: 5)
            #expect(ping.contains(" 0% packet loss"), "\(ping)")
            // A drop with a reason: the correspondent pings a Home Address no Mobile Node holds.
            _ = try lab.execute(["ping", "-c", "2", "-i", "0.2", "-W", "1", "192.0.2.99"], in: topology.correspondent, timeout: 10)

            let binary = try ternBinary()
            func status(_ socket: String) throws -> [String: Any] {
                let json = try lab.run([binary, "status", "--json", "--socket", lab.directory.appendingPathComponent(socket).path])
                return try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] ?? [:]
            }
            func number(_ report: [String: Any], _ key: String) -> Double { Double(report[key] as? Int ?? -1) }

            // The data plane publishes its counters every 200 ms while they change: wait until the scrape
            // and `tern status` agree and the drop is counted.
            var ha: Scrape?
            var haReport: [String: Any] = [:]
            try lab.wait("the HA's metrics to agree with tern status", timeout: 10) {
                let scrape = try Scrape(lab, in: topology.homeAgent, url: "http://127.0.0.1:9587/metrics")
                haReport = try status("ha.sock")
                ha = scrape
                let drops = haReport["drops"] as? [String: Int] ?? [:]
                return (drops["unknown_home_address"] ?? 0) >= 2
                    && scrape.value("tern_packets_received_total{role=\"ha\"}") == number(haReport, "packetsReceived")
                    && scrape.value("tern_packets_sent_total{role=\"ha\"}") == number(haReport, "packetsSent")
            }
            let haScrape = try #require(ha)
            #expect(haScrape.status == 200 && haScrape.contentType == Self.prometheusContentType, "\(haScrape.contentType)")
            #expect((haScrape.value("tern_packets_received_total{role=\"ha\"}") ?? 0) >= 5, "\(haScrape.body)")
            #expect(haScrape.value("tern_bytes_received_total{role=\"ha\"}") == number(haReport, "octetsReceived"))
            #expect(haScrape.value("tern_bytes_sent_total{role=\"ha\"}") == number(haReport, "octetsSent"))
            let haDrops = haReport["drops"] as? [String: Int] ?? [:]
            #expect(
                haScrape.value("tern_drops_total{role=\"ha\",reason=\"unknown_home_address\"}")
                    == Double(haDrops["unknown_home_address"] ?? -1))
            #expect(haScrape.value("tern_drops_total{role=\"ha\",reason=\"authentication_failed\"}") == 0)
            #expect(haScrape.value("tern_security_associations{role=\"ha\"}") == 2)
            #expect(haScrape.value("tern_bindings{role=\"ha\"}") == 2)
            #expect(haScrape.body.contains("tern_build_info{role=\"ha\",version=\""), "\(haScrape.body)")
            #expect(try Scrape(lab, in: topology.homeAgent, url: "http://127.0.0.1:9587/").status == 404)

            var mn: Scrape?
            var mnReport: [String: Any] = [:]
            try lab.wait("mn0's metrics to agree with tern status and its first handover", timeout: 10) {
                let scrape = try Scrape(lab, in: topology.mobileNodes[0], url: "http://[::1]:9588/metrics")
                mnReport = try status("mn0.sock")
                mn = scrape
                return scrape.value("tern_packets_sent_total{role=\"mn\"}") == number(mnReport, "packetsSent")
                    && scrape.value("tern_handovers_total{role=\"mn\",trigger=\"startup\"}") == 1
            }
            let mnScrape = try #require(mn)
            // Kept with the lab (TERN_KEEP_LAB=1) for a look at the exposition.
            try lab.write("ha-metrics.txt", haScrape.body)
            try lab.write("mn0-metrics.txt", mnScrape.body)
            #expect(mnScrape.status == 200 && mnScrape.contentType == Self.prometheusContentType)
            #expect((mnScrape.value("tern_packets_sent_total{role=\"mn\"}") ?? 0) >= 5, "\(mnScrape.body)")
            #expect(mnScrape.value("tern_packets_received_total{role=\"mn\"}") == number(mnReport, "packetsReceived"))
            #expect(mnScrape.value("tern_binding_registered{role=\"mn\"}") == 1)
            #expect(mnScrape.value("tern_handover_acknowledged_seconds_count{role=\"mn\",trigger=\"startup\"}") == 1)
            #expect(mnScrape.value("tern_handover_first_data_seconds_count{role=\"mn\",trigger=\"startup\"}") == 1)
            #expect(mnScrape.value("tern_drops_total{role=\"mn\",reason=\"not_from_home_agent\"}") == 0)

            // Listening TCP sockets: the endpoint and nothing else; none at all without `metrics:`.
            func listening(_ namespace: String) throws -> [String] {
                try lab.run(["ss", "-ltnH"], in: namespace).split(separator: "\n").compactMap {
                    let fields = $0.split(separator: " ", omittingEmptySubsequences: true)
                    return fields.count >= 4 ? String(fields[3]) : nil
                }
            }
            #expect(try listening(topology.homeAgent) == ["127.0.0.1:9587"])
            #expect(try listening(topology.mobileNodes[0]) == ["[::1]:9588"])
            #expect(try listening(topology.mobileNodes[1]) == [], "mn1 has no metrics: section")
            #expect(lab.log("ha").contains("metrics: http://127.0.0.1:9587/metrics"), "\(lab.log("ha"))")
            #expect(!lab.log("mn1").contains("metrics"), "\(lab.log("mn1"))")

            // No key in any log line or status file, at the most verbose level.
            var secrets = Secrets()
            for file in deployment.keyFiles { try secrets.addKeyFile(file) }
            #expect(!secrets.isEmpty)
            let texts = ["ha", "mn0", "mn1"].map { lab.log($0) } + [
                (try? String(contentsOfFile: deployment.haStatus, encoding: .utf8)) ?? "",
                (try? String(contentsOfFile: lab.directory.appendingPathComponent("mn0-status.json").path, encoding: .utf8)) ?? "",
                haScrape.body, mnScrape.body,
            ]
            for (index, text) in texts.enumerated() {
                #expect(!text.isEmpty, "text \(index) is empty: the search for keys could not fail")
                #expect(secrets.leaks(in: text).isEmpty, "text \(index) leaks \(secrets.leaks(in: text))")
            }
            #expect(lab.log("ha").contains(" debug tern.ha"), "trace level did not reach the log:\n\(lab.log("ha"))")
        } catch {
            lab.printLogs(["ha", "mn0", "mn1"])
            throw error
        }
    }
}
