import Foundation
import TernTestSupport
import Testing

/// Issue 13 item 6 (a): a second `tern mn` with the same configuration is refused before any network
/// exchange, so the controller never issues it an SA and never retires the running node's.
@Suite("A second tern mn is refused before it reaches the controller", .serialized)
struct SecondMobileNodeTests {
    @Test("same config: refused (control socket answers); own socket, same TUN: refused (device in use); no HAC exchange; the first keeps its traffic")
    func refused() throws {
        guard requireRoot() else { return }
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        let certificates = try CertificateFactory()
        defer { certificates.remove() }
        do {
            let topology = try Topology(lab: lab)
            let deployment = try ControllerDeployment(topology: topology, certificates: certificates)
            let config = lab.directory.appendingPathComponent("mn.yaml").path
            func exchanges() -> Int { lab.log("ha").components(separatedBy: "HAC: laptop@example.test from").count - 1 }
            #expect(exchanges() == 1)

            let second = try lab.execute([deployment.binary, "mn", "--config", config], in: topology.mobileNodes[0], timeout: 15)
            #expect(second.status != 0, "\(second.output)")
            #expect(second.output.contains("another tern mn is running"), "\(second.output)")
            #expect(!second.output.contains("bootstrapped"), "\(second.output)")

            // Another control socket, the same TUN device: the device is in use.
            let text = try String(contentsOfFile: config, encoding: .utf8)
                .replacingOccurrences(of: "mn.sock", with: "mn-second.sock")
                .replacingOccurrences(of: "mn-status.json", with: "mn-second-status.json")
            let other = try lab.write("mn-second.yaml", text)
            let third = try lab.execute([deployment.binary, "mn", "--config", other], in: topology.mobileNodes[0], timeout: 15)
            #expect(third.status != 0, "\(third.output)")
            #expect(third.output.contains("TUN device tern0 is in use"), "\(third.output)")

            #expect(exchanges() == 1, "the HAC saw another exchange: \(lab.log("ha").suffix(2000))")
            let shown = try lab.run([deployment.binary, "users", "show", "--database", deployment.database, "laptop@example.test"])
            #expect(shown.contains("1 live SA"), "\(shown)")
            let ping = try lab.run(
                ["ping", "-c", "5", "-i", "0.2", "-W", "2", "-w", "10", Topology.cn4], in: topology.mobileNodes[0], timeout: 15)
            #expect(ping.contains(" 0% packet loss"), "\(ping)")
            #expect(deployment.mobileNode?.isRunning == true, "\(lab.log("mn0").suffix(1000))")
        } catch {
            lab.printLogs(["ha", "mn0"])
            throw error
        }
    }
}
