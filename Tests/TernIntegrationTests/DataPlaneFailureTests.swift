import Foundation
import Testing

/// Issue 13 item 9a: a data-plane thread that fails stops the daemon with a non-zero status (70,
/// EX_SOFTWARE) so that its supervisor restarts it, instead of leaving it up with no traffic. The failure
/// is real: the TUN device is deleted under the running daemon, and its reads fail (EBADFD).
@Suite("A failed data-plane thread stops the daemon", .serialized)
struct DataPlaneFailureTests {
    /// Waits at most `seconds` for `process` to exit; its status, or nil if it still runs.
    private func exitStatus(_ process: Process, within seconds: Double, _ lab: NetworkLab) -> Int32? {
        try? lab.wait("the daemon to exit", timeout: seconds) { !process.isRunning }
        guard !process.isRunning else { return nil }
        process.waitUntilExit()
        return process.terminationStatus
    }

    @Test("HA: ip link del of its TUN device → exit status 70 within 5 s, gateway undone")
    func homeAgent() throws {
        try NetworkLab.run(printingLogsOf: ["ha"]) { lab in
            let ha = try SoloHomeAgent(lab: lab, extra: "gateway:\n  masquerade: false")
            try lab.run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=0"], in: ha.namespace)
            let process = try ha.start("ha")
            try lab.run(["ip", "link", "del", "tern0"], in: ha.namespace)
            let status = exitStatus(process, within: 5, lab)
            #expect(status == 70, "tern ha: \(status.map(String.init) ?? "still running"): \(lab.log("ha").suffix(1500))")
            #expect(lab.log("ha").contains("data-plane thread"), "\(lab.log("ha").suffix(1500))")
            let forwarding = try lab.run(["sysctl", "-n", "net.ipv4.ip_forward"], in: ha.namespace)
            #expect(forwarding.hasPrefix("0"), "the stop undid the gateway: \(forwarding)")
        }
    }

    @Test("MN: ip link del of its TUN device → exit status 70 within 5 s")
    func mobileNode() throws {
        guard requireRoot() else { return }
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        do {
            let topology = try Topology(lab: lab)
            let deployment = try TernDeployment(topology: topology, associations: [TestSecurityAssociation(spi: 0x100)])
            let process = try #require(deployment.mobileNodeProcesses.first)
            try lab.run(["ip", "link", "del", "tern0"], in: topology.mobileNodes[0])
            let status = exitStatus(process, within: 5, lab)
            #expect(status == 70, "tern mn: \(status.map(String.init) ?? "still running"): \(lab.log("mn0").suffix(1500))")
        } catch {
            lab.printLogs(["ha", "mn0"])
            throw error
        }
    }
}
