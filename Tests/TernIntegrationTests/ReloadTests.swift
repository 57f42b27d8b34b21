import Foundation
import TernProtocol
import Testing

/// SIGHUP re-reads the configuration (docs/reload.md): real daemons in network namespaces, the file
/// rewritten between signals.
@Suite("Configuration reload on SIGHUP in network namespaces", .serialized)
struct ReloadTests {
    @Test("HA: a Mobile Node added by reload registers and passes traffic; one removed loses its SA and route; a broken file changes nothing")
    func homeAgent() throws {
        try NetworkLab.run(printingLogsOf: ["ha", "mn0", "mn1"]) { lab in
            let topology = try Topology(lab: lab, mobileNodes: 2)
            var deployment = try TernDeployment(topology: topology, associations: [TestSecurityAssociation(spi: 100)])
            let ha = try #require(deployment.homeAgentProcess)
            try expectSignalsBlocked(ha, "ha")
            try expectSignalsBlocked(try #require(deployment.mobileNodeProcesses.first), "mn0")

            // Add mn1 (another suite), a shorter binding lifetime and debug logging.
            let second = try deployment.addAssociation(TestSecurityAssociation(spi: 200, suite: .chacha20Poly1305SHA256))
            try deployment.writeHomeAgentConfig(nodes: [0, second], extra: "binding: {maximum-lifetime: 120}\nlog-level: debug")
            try reload(ha, "ha", lab)
            let added = lab.log("ha")
            #expect(added.contains("reload: mobile node mn1 added"), "\(added)")
            #expect(added.contains("binding lifetime ≤ 120 s"), "\(added)")
            #expect(added.contains("log-level: info -> debug"), "\(added)")
            // The gateway masquerades (the default): the new Home Address joined the nftables set.
            #expect(try masqueraded(topology).contains(Topology.homeAddress4(second)))
            try deployment.startMobileNode(second)
            #expect(lab.log("mn1").contains("registered: lifetime 120 s"), "\(lab.log("mn1"))")
            for index in [0, second] {
                let ping = try deployment.ping(Topology.cn4, from: index, count: 2)
                #expect(ping.contains(" 0% packet loss"), "mn\(index): \(ping)")
            }

            // Remove mn0: its SA, its binding and the routes to its Home Addresses go; mn1 is untouched.
            try deployment.writeHomeAgentConfig(nodes: [second])
            try reload(ha, "ha", lab)
            #expect(lab.log("ha").contains("reload: mobile node mn0 (SPI 100) removed"))
            try lab.wait("the status file to drop mn0", timeout: 5) {
                let names = (try deployment.homeAgentStatus()["bindings"] as? [[String: Any]] ?? []).compactMap { $0["mobileNode"] as? String }
                return names == ["mn1"]
            }
            let routes = try lab.run(["ip", "route", "show", "dev", "tern0"], in: topology.homeAgent)
            #expect(!routes.contains(Topology.homeAddress4(0)) && routes.contains(Topology.homeAddress4(second)), "\(routes)")
            let set = try masqueraded(topology)
            #expect(!set.contains(Topology.homeAddress4(0)) && set.contains(Topology.homeAddress4(second)), "\(set)")
            let refused = try lab.execute(
                ["ping", "-c", "2", "-i", "0.2", "-W", "1", "-w", "3", Topology.cn4], in: topology.mobileNodes[0], timeout: 10)
            #expect(refused.status != 0 && refused.output.contains("100% packet loss"), "mn0 still passes: \(refused.output)")

            // A field that needs a restart is named and keeps its value; a broken file changes nothing.
            try deployment.writeHomeAgentConfig(nodes: [second], extra: "gateway: {forwarding: false}")
            try reload(ha, "ha", lab)
            #expect(lab.log("ha").contains("reload: gateway changed in the file but needs a restart"))
            try lab.write("ha.yaml", "mobile-nodes: [\n  - {name: broken\n")
            try reload(ha, "ha", lab)
            let broken = lab.log("ha")
            // The error says where: file:line:column.
            #expect(broken.range(of: "reload: \(deployment.haConfig):[0-9]+:[0-9]+: ", options: .regularExpression) != nil, "\(broken)")
            #expect(broken.contains("; nothing changed"), "\(broken)")
            #expect(ha.isRunning)
            let ping = try deployment.ping(Topology.cn6, from: second, count: 2)
            #expect(ping.contains(" 0% packet loss"), "mn1 after the broken reload: \(ping)")

            // SIGTERM still stops it cleanly.
            #expect(lab.stop(ha) == 0)
            #expect(lab.log("ha").contains("SIGTERM: stopping") && lab.log("ha").contains("stopped: sent"))
        }
    }

    @Test("MN: a reloaded keepalive interval takes effect at once; home-agent.port needs a restart")
    func mobileNode() throws {
        try NetworkLab.run(printingLogsOf: ["ha", "mn0"]) { lab in
            let topology = try Topology(lab: lab)
            let deployment = try TernDeployment(topology: topology, associations: [TestSecurityAssociation(spi: 4660)])
            let mn = try #require(deployment.mobileNodeProcesses.first)
            try deployment.writeMobileNodeConfig(0, extra: "keepalive: 1\nbinding: {lifetime: 300}")
            let config = deployment.mobileNodeConfig(0)
            let text = try String(contentsOfFile: config, encoding: .utf8)
            try lab.write("mn0.yaml", text.replacingOccurrences(of: "port: 7872", with: "port: 7873"))
            let before = try keepalivesSent(lab)
            try reload(mn, "mn0", lab)
            let log = lab.log("mn0")
            #expect(log.contains("reload: keepalive 1 s, binding lifetime 300 s"), "\(log)")
            #expect(log.contains("reload: home-agent.port changed in the file but needs a restart"), "\(log)")
            // The default keepalive is 25 s: several within a few seconds can only be the reloaded 1 s.
            try lab.wait("keepalives every second", timeout: 8) { try keepalivesSent(lab) >= before + 3 }
            let ping = try deployment.ping(Topology.cn4, count: 2)
            #expect(ping.contains(" 0% packet loss"), "\(ping)")
            #expect(lab.stop(mn) == 0)
            #expect(lab.log("mn0").contains("deregistered from the home agent"))
        }
    }

    /// Sends SIGHUP and waits (bounded) for the daemon to log that the reload finished or failed.
    private func reload(_ process: Process, _ name: String, _ lab: NetworkLab) throws {
        func finished() -> Int {
            let log = lab.log(name)
            return log.components(separatedBy: "reload done").count + log.components(separatedBy: "; nothing changed").count
        }
        let before = finished()
        kill(process.processIdentifier, SIGHUP)
        try lab.wait("\(name) to finish the reload", timeout: 5) { finished() > before }
    }

    /// The HA's set of masqueraded Home Addresses, as nft lists it.
    private func masqueraded(_ topology: Topology) throws -> String {
        try topology.lab.run(["nft", "list", "set", "ip", "tern_tern0", "home_addresses"], in: topology.homeAgent)
    }

    private func keepalivesSent(_ lab: NetworkLab) throws -> Int {
        let path = lab.directory.appendingPathComponent("mn0-status.json")
        // Written every second from the start on.
        try lab.wait("the MN's status file", timeout: 5) { FileManager.default.fileExists(atPath: path.path) }
        let data = try Data(contentsOf: path)
        let status = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
        return status["keepalivesSent"] as? Int ?? 0
    }

    /// Every thread of the daemon blocks SIGTERM, SIGINT and SIGHUP (SigBlk in /proc): they reach the
    /// signal loop's descriptor only, never a thread's default action.
    private func expectSignalsBlocked(_ process: Process, _ who: String) throws {
        let wanted: UInt64 = (1 << UInt64(SIGHUP - 1)) | (1 << UInt64(SIGINT - 1)) | (1 << UInt64(SIGTERM - 1))
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(process.processIdentifier)/task")
        #expect(!tasks.isEmpty)
        for tid in tasks {
            guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/task/\(tid)/status", encoding: .utf8),
                let line = status.split(separator: "\n").first(where: { $0.hasPrefix("SigBlk:") }),
                let mask = UInt64(line.dropFirst("SigBlk:".count).trimmingCharacters(in: .whitespaces), radix: 16)
            else { continue }
            #expect(mask & wanted == wanted, "\(who) thread \(tid) does not block SIGTERM/SIGINT/SIGHUP: \(line)")
        }
    }
}
