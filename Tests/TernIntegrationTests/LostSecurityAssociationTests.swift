import Foundation
import TernTestSupport
import Testing

/// Issue 13 item 6 (b): a Mobile Node whose SA the HA no longer holds notices (user data gets no answer,
/// then its Binding Updates get none), says so in its status, bootstraps a new SA and carries traffic
/// again, without a restart.
@Suite("A Mobile Node whose SA the HA lost bootstraps again", .serialized)
struct LostSecurityAssociationTests {
    @Test("the HA drops the MN's SA (disable): status leaves registered; enable: the MN bootstraps again by itself, pings resume")
    func rebootstrap() throws {
        guard requireRoot() else { return }
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        let certificates = try CertificateFactory()
        defer { certificates.remove() }
        do {
            let topology = try Topology(lab: lab)
            let deployment = try ControllerDeployment(topology: topology, certificates: certificates)
            let identity = "laptop@example.test"
            let socket = lab.directory.appendingPathComponent("ha.sock").path
            func state() -> String? {
                guard let data = FileManager.default.contents(atPath: deployment.mnStatus),
                    let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                    let registration = object["registration"] as? [String: Any]
                else { return nil }
                return registration["state"] as? String
            }
            // The HA forgets the SA, and the identity may not bootstrap for now.
            try lab.run([deployment.binary, "users", "disable", identity, "--database", deployment.database, "--control-socket", socket])
            // User data with no answer: the MN probes, gets no BA, says so, and tries to bootstrap again.
            let ping = try lab.start(
                "ping", ["ping", "-n", "-i", "0.2", "-W", "1", "-w", "90", Topology.cn4], in: topology.mobileNodes[0])
            try lab.wait("the MN to notice", timeout: 40) { lab.log("mn0").contains("the home agent answered none of") }
            try lab.wait("the MN's status to leave registered", timeout: 5) { state().map { !$0.hasPrefix("registered") } ?? false }
            let shown = state() ?? "none"
            #expect(shown.hasPrefix("registering"), "\(shown)")
            // Allowed again: the MN's next bootstrap attempt (backing off from 5 s) gets a new SA.
            try lab.run([deployment.binary, "users", "enable", identity, "--database", deployment.database])
            try lab.wait("the MN to bootstrap again", timeout: 40) { lab.log("mn0").contains("re-keyed: sending under SPI") }
            lab.stop(ping)
            #expect(lab.log("mn0").contains("the home agent answered none of 3 binding updates"), "\(lab.log("mn0").suffix(2000))")
            let after = try lab.run(
                ["ping", "-c", "5", "-i", "0.2", "-W", "2", "-w", "10", Topology.cn4], in: topology.mobileNodes[0], timeout: 15)
            #expect(after.contains(" 0% packet loss"), "\(after)")
            try lab.wait("the MN to report registered", timeout: 5) {
                ((try? String(contentsOfFile: deployment.mnStatus, encoding: .utf8)) ?? "").contains("\"state\" : \"registered\"")
            }
            #expect(deployment.mobileNode?.isRunning == true)
        } catch {
            lab.printLogs(["ha", "mn0", "ping"])
            throw error
        }
    }
}
