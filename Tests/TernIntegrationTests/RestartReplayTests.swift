import Foundation
import TernTestSupport
import Testing

/// Issue 13 items 1 and 9d against real daemons: datagrams captured before a Home Agent restart, replayed
/// after it from a third namespace, are refused (`replayed`) and move no binding — after a clean stop
/// and after kill -9, and even when the receive high-water mark was never persisted (the gap an unclean
/// stop leaves, where a replayed, stale Binding Update must not move the endpoint either).
@Suite("Replays across Home Agent restarts", .serialized)
struct RestartReplayTests {
    private var attackScript: String { repositoryRoot.appendingPathComponent("scripts/testing/udp_attack.py").path }

    private func withLab(_ body: (NetworkLab, Topology, CertificateFactory) throws -> Void) throws {
        guard requireRoot() else { return }
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        let certificates = try CertificateFactory()
        defer { certificates.remove() }
        do {
            try body(lab, try Topology(lab: lab, attacker: true), certificates)
        } catch {
            lab.printLogs(["ha", "ha2", "mn0", "sniff", "sniff-bu"])
            throw error
        }
    }

    /// Starts a sniffer on the bridge port facing the HA for `count` datagrams (of `packetType`, if
    /// given) into `file`; returns it once it listens.
    private func sniff(
        _ lab: NetworkLab, _ topology: Topology, name: String, count: Int, file: String, packetType: Int? = nil
    ) throws -> Process {
        let sniffer = try lab.start(
            name,
            ["python3", attackScript, "sniff", topology.bridgeInterface, "7872", "\(count)", file]
                + (packetType.map { ["\($0)"] } ?? []),
            in: topology.underlay)
        try lab.wait("the sniffer \(name) to listen", timeout: 10) { lab.log(name).contains("sniffing") }
        return sniffer
    }

    private func status(_ deployment: ControllerDeployment) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: deployment.haStatus))
        return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    }

    private func endpoints(_ deployment: ControllerDeployment) throws -> [String] {
        (try status(deployment)["bindings"] as? [[String: Any]] ?? []).compactMap { $0["endpoint"] as? String }
    }

    private func ping(_ lab: NetworkLab, _ topology: Topology, count: Int) throws -> String {
        try lab.run(
            ["ping", "-c", "\(count)", "-i", "0.2", "-W", "2", "-w", "\(count + 5)", Topology.cn4],
            in: topology.mobileNodes[0], timeout: Double(count + 10))
    }

    @Test(
        "datagrams captured before an HA restart (SIGTERM, kill -9), replayed from another address, are refused and move no binding",
        arguments: [false, true])
    func replayAfterRestart(crash: Bool) throws {
        try withLab { lab, topology, certificates in
            var deployment = try ControllerDeployment(topology: topology, certificates: certificates)
            guard let attacker = topology.attacker else { return }
            let capture = lab.directory.appendingPathComponent("genuine.hex").path
            let sniffer = try sniff(lab, topology, name: "sniff", count: 5, file: capture, packetType: 1)
            #expect(try ping(lab, topology, count: 5).contains(" 0% packet loss"))
            try lab.wait("the capture", timeout: 20) { !sniffer.isRunning }
            // Past one persist period: what a crash leaves unpersisted is the gap test's, not this one's.
            usleep(1_200_000)
            let exitStatus = try deployment.restartHomeAgent(as: "ha2", crash: crash)
            #expect(crash ? exitStatus != 0 : exitStatus == 0)
            #expect(lab.log("ha2").contains("restored SA"), "\(lab.log("ha2"))")
            try lab.wait("the restored binding in the status file", timeout: 5) {
                (try? endpoints(deployment))?.first?.hasPrefix(Topology.mnUnderlay4(0) + ":") ?? false
            }
            let before = try endpoints(deployment)

            try lab.run(["python3", attackScript, "replay", Topology.haUnderlay4, "7872", capture], in: attacker)
            func replayed() -> Int {
                let drops = (try? status(deployment))?["drops"] as? [String: Int] ?? [:]
                return drops["replayed"] ?? 0
            }
            // Not thrown on: without the defence the expectations below say what happened instead.
            try? lab.wait("the HA to count the 5 replays", timeout: 5) { replayed() >= 5 }
            let drops = try status(deployment)["drops"] as? [String: Int] ?? [:]
            #expect((drops["replayed"] ?? 0) >= 5, "\(drops)")
            #expect(try endpoints(deployment) == before, "the binding moved")
            #expect(!lab.log("ha2").contains(Topology.attacker4), "the attacker's address appears in the log: \(lab.log("ha2"))")
            // The MN is still reached where it is; the HA's restored sender skipped past its reservation,
            // so the MN (whose window was not reset) accepts what it sends now.
            let after = try ping(lab, topology, count: 3)
            #expect(after.contains(" 0% packet loss"), "\(after)")
        }
    }

    @Test("after kill -9 with nothing persisted, replayed data and a replayed stale Binding Update move no binding")
    func replayInUnpersistedGap() throws {
        try withLab { lab, topology, certificates in
            // Binding refreshes every few seconds, so that a Binding Update crosses while the sniffer runs;
            // debug logging shows the HA's answer to the replayed one.
            var deployment = try ControllerDeployment(
                topology: topology, certificates: certificates, mnExtra: "binding: {lifetime: 8}",
                arguments: ["--log-level", "debug"])
            guard let attacker = topology.attacker else { return }
            let data = lab.directory.appendingPathComponent("data.hex").path
            let update = lab.directory.appendingPathComponent("bu.hex").path
            let sniffer = try sniff(lab, topology, name: "sniff", count: 5, file: data, packetType: 1)
            #expect(try ping(lab, topology, count: 5).contains(" 0% packet loss"))
            try lab.wait("the data capture", timeout: 20) { !sniffer.isRunning }
            // The next Binding Update, sealed after the data: replayed after them, it is the newest datagram.
            let updateSniffer = try sniff(lab, topology, name: "sniff-bu", count: 1, file: update, packetType: 8)
            try lab.wait("a Binding Update", timeout: 20) { !updateSniffer.isRunning }
            // Let the HA persist that BU's binding (the state thread writes it at once), then crash it and
            // take back the receive marks: the worst a crash can do, every captured datagram unpersisted.
            usleep(1_200_000)
            let database = deployment.database
            _ = try deployment.restartHomeAgent(as: "ha2", crash: true) {
                try lab.run([
                    "python3", "-c",
                    "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('UPDATE security_association SET mn_sequence_accepted = 0'); c.commit()",
                    database,
                ])
            }
            try lab.wait("the restored binding in the status file", timeout: 5) {
                (try? endpoints(deployment))?.first?.hasPrefix(Topology.mnUnderlay4(0) + ":") ?? false
            }
            let before = try endpoints(deployment)

            // The data first: each is the newest authenticated datagram, and must not move the endpoint
            // (held until the MN's own BU); then the BU, newer still, which the binding cache finds stale.
            try lab.run(["python3", attackScript, "replay", Topology.haUnderlay4, "7872", data], in: attacker)
            try lab.run(["python3", attackScript, "replay", Topology.haUnderlay4, "7872", update], in: attacker)
            try lab.wait("the HA to refuse the replayed Binding Update", timeout: 5) {
                lab.log("ha2").contains("rejected with status 135")
            }
            usleep(1_200_000)  // one status-file period
            #expect(try endpoints(deployment) == before, "the binding moved")
            #expect(!lab.log("ha2").contains(Topology.attacker4), "the attacker's address appears in the log: \(lab.log("ha2"))")
            let after = try ping(lab, topology, count: 3)
            #expect(after.contains(" 0% packet loss"), "\(after)")
            // Then the MN's own next Binding Update releases the endpoint (it refreshes within 8 s).
            try lab.wait("the MN's next Binding Update", timeout: 15) {
                lab.log("ha2").components(separatedBy: "binding update from laptop@example.test: accepted").count > 1
            }
            #expect(try endpoints(deployment) == before)
        }
    }
}
