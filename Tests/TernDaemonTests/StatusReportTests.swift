import TernDaemon
import TernTunnel
import Testing

@Suite("Status reports: the JSON the control socket serves and the text `tern status` prints")
struct StatusReportTests {
    private let json = """
        {"role":"home-agent","packetsSent":3,"octetsSent":300,"packetsReceived":2,"octetsReceived":200,
         "keepalivesSent":0,"keepalivesReceived":1,"mobilityHeadersSent":1,"mobilityHeadersReceived":1,
         "bindingMoves":1,"superPacketsRead":0,"superPacketsWritten":0,"cryptoBatchesSplit":0,
         "drops":{"replayed":4,"authentication-failed":2},
         "bindings":[
           {"mobileNode":"one@example.test","spi":4096,"endpoint":"203.0.113.9:40000","registered":true,
            "careOfAddress":"192.168.1.9","behindNAT":true,"lifetimeSeconds":600,"expiresInSeconds":42.4},
           {"mobileNode":"two@example.test","spi":8192,"endpoint":"198.51.100.1:7872","registered":false}]}
        """

    @Test("a report reads back from its JSON and lists counters, drops in order, and each binding")
    func text() throws {
        let report = try StatusReport(json: Array(json.utf8))
        let lines = report.text.split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        #expect(lines[0].hasPrefix("home-agent: sent 3 packets (300 octets), received 2 packets (200 octets)"))
        #expect(lines[0].hasSuffix("drops: authentication-failed=2 replayed=4"))
        #expect(
            lines[1]
                == "  one@example.test (SPI 4096): registered, endpoint 203.0.113.9:40000, care-of 192.168.1.9, behind NAT, 42 s left")
        #expect(lines[2] == "  two@example.test (SPI 8192): no live binding (last seen at 198.51.100.1:7872)")
        let again = try StatusReport(json: report.json())
        #expect(again.text == report.text, "json() and init(json:) agree")
        #expect(String(decoding: try report.json(), as: UTF8.self).contains("\"bindingMoves\" : 1"), "sorted, indented")
    }

    @Test("an answer that is not a report is an error, not a trap")
    func notAReport() {
        #expect(throws: (any Error).self) { try StatusReport(json: Array("error: unknown request\n".utf8)) }
        #expect(throws: (any Error).self) { try StatusReport(json: []) }
    }

    @Test("a report from fresh counters has no drops and says so")
    func fresh() {
        let report = StatusReport(role: "mobile-node", counters: TunnelCounters(), bindings: [])
        #expect(report.summary.hasSuffix("drops: none"))
        #expect(report.text == "mobile-node: \(report.summary)")
    }
}
