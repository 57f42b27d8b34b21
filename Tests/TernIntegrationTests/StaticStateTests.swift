import Foundation
import TernTestSupport
import Testing

/// Issue 13 item 2 against real daemons: with manual keying, no restart of either end — clean or
/// kill -9 — reuses a (SPI, sequence number) pair, i.e. an AES-GCM nonce under the same key; and a state
/// directory that others can write is refused.
@Suite("Static SAs across restarts", .serialized)
struct StaticStateTests {
    private var attackScript: String { repositoryRoot.appendingPathComponent("scripts/testing/udp_attack.py").path }

    @Test("restarting the MN alone (SIGTERM, kill -9) and the HA (kill -9) repeats no SPI and sequence number on the underlay")
    func restartsRepeatNoSequenceNumber() throws {
        try NetworkLab.run(printingLogsOf: ["ha", "ha2", "mn0"] + (0..<4).map { "sniff\($0)" }) { lab in
            let topology = try Topology(lab: lab)
            var captures: [String] = []
            func sniffer(_ run: Int) throws -> Process {
                let file = lab.directory.appendingPathComponent("run\(run).hex").path
                captures.append(file)
                let process = try lab.start(
                    "sniff\(run)", ["python3", attackScript, "sniff", topology.bridgeInterface, "7872", "4", file],
                    in: topology.underlay)
                try lab.wait("sniffer \(run)", timeout: 10) { lab.log("sniff\(run)").contains("sniffing") }
                return process
            }
            // Run 0 is the first start; then clean, crash, clean restarts of the MN alone, with traffic.
            var sniffing = try sniffer(0)
            var deployment = try TernDeployment(topology: topology, associations: [TestSecurityAssociation(spi: 4660)])
            for run in 1...3 {
                #expect(try deployment.ping(Topology.cn4, count: 3).contains(" 0% packet loss"), "run \(run - 1)")
                try lab.wait("capture \(run - 1)", timeout: 20) { !sniffing.isRunning }
                usleep(600_000)
                deployment.stopMobileNode(0, crash: run == 2)
                sniffing = try sniffer(run)
                try deployment.startMobileNode(0)
            }
            #expect(try deployment.ping(Topology.cn4, count: 3).contains(" 0% packet loss"), "run 3")
            try lab.wait("capture 3", timeout: 20) { !sniffing.isRunning }

            var seen: [String: Int] = [:]
            for (run, file) in captures.enumerated() {
                let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n")
                #expect(lines.count == 4, "run \(run) captured \(lines.count)")
                for line in lines {
                    let key = String(line.prefix(16))  // PType, SPI and sequence number
                    #expect(seen[key] == nil, "\(key) sent in run \(seen[key] ?? -1) and again in run \(run)")
                    seen[key] = run
                }
            }

            // The HA crashes: its sender resumes past its reservation, so the MN's window (not reset)
            // accepts what it sends; had it started again at 1, every answer would be a replay to the MN.
            _ = try deployment.restartHomeAgent(as: "ha2", crash: true)
            try lab.wait("the MN to register again", timeout: 15) {
                (try? deployment.ping(Topology.cn4, count: 1))?.contains(" 0% packet loss") ?? false
            }
            #expect(try deployment.ping(Topology.cn4, count: 3).contains(" 0% packet loss"))
        }
    }

    @Test("a state directory that group or others can write is refused, by the MN and by the HA")
    func looseStateDirectoryRefused() throws {
        try NetworkLab.run(printingLogsOf: ["ha", "mn0"]) { lab in
            let topology = try Topology(lab: lab)
            var deployment = try TernDeployment(topology: topology, associations: [TestSecurityAssociation(spi: 4661)])
            let binary = try ternBinary()
            deployment.stopMobileNode(0)
            let mnState = lab.directory.appendingPathComponent("state-mn0").path
            #expect(chmod(mnState, 0o777) == 0)
            let mn = try lab.execute(
                [binary, "mn", "--config", deployment.mobileNodeConfig(0)], in: topology.mobileNodes[0], timeout: 15)
            #expect(mn.status == 78, "\(mn.output)")
            #expect(mn.output.contains("state-directory \(mnState) has mode 0777"), "\(mn.output)")

            let haState = lab.directory.appendingPathComponent("state-ha").path
            #expect(chmod(haState, 0o770) == 0)
            let second = lab.directory.appendingPathComponent("ha-second.yaml").path
            // The same configuration with another control socket and TUN name, so only the state directory
            // can be what stops it.
            let text = try String(contentsOfFile: deployment.haConfig, encoding: .utf8)
                .replacingOccurrences(of: "ha.sock", with: "ha-second.sock").replacingOccurrences(of: "tern0", with: "tern1")
                .replacingOccurrences(of: "port: 7872", with: "port: 7874")
            try text.write(toFile: second, atomically: true, encoding: .utf8)
            let ha = try lab.execute([binary, "ha", "--config", second], in: topology.homeAgent, timeout: 15)
            #expect(ha.status == 78, "\(ha.output)")
            #expect(ha.output.contains("state-directory \(haState) has mode 0770"), "\(ha.output)")
        }
    }
}
