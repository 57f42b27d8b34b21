import Foundation
import TernTestSupport
import Testing

/// Issue 13 item 7: `tern users disable` and `remove` cut a running Mobile Node off the running HA within
/// a second, through the HA's control socket; a disabled identity's bootstrap is refused (401, as an
/// unknown identity: DESIGN.md), and `enable` lets it bootstrap again.
@Suite("Revocation reaches the running Home Agent", .serialized)
struct RevocationTests {
    /// How late a reply may come after the revoking command returned.
    static let cutOffSeconds = 1.0

    /// `ping -D` at 10 a second for `seconds`, from the MN's namespace, in the background (log `name`).
    private func startPing(_ lab: NetworkLab, _ topology: Topology, name: String, seconds: Int = 6) throws -> Process {
        let process = try lab.start(
            name, ["ping", "-D", "-n", "-i", "0.1", "-W", "1", "-w", "\(seconds)", Topology.cn4], in: topology.mobileNodes[0])
        try lab.wait("the first replies", timeout: 5) { replyTimes(lab.log(name)).count >= 5 }
        return process
    }

    /// The times (seconds since 1970) of the echo replies in a `ping -D` log.
    private func replyTimes(_ log: String) -> [Double] {
        log.split(separator: "\n").compactMap { line in
            guard line.contains("bytes from"), line.hasPrefix("["), let end = line.firstIndex(of: "]") else { return nil }
            return Double(line[line.index(after: line.startIndex)..<end])
        }
    }

    /// Runs `tern users ARGS` against the deployment's database and HA; asserts exit 0; returns its output
    /// and the time it returned.
    private func users(_ deployment: ControllerDeployment, _ arguments: [String], socket: String? = nil) throws -> (String, Double) {
        let lab = deployment.topology.lab
        let revokes = arguments.first == "disable" || arguments.first == "remove"
        let result = try lab.execute(
            [deployment.binary, "users"] + arguments + ["--database", deployment.database]
                + (revokes ? ["--control-socket", socket ?? lab.directory.appendingPathComponent("ha.sock").path] : []))
        #expect(result.status == 0, "tern users \(arguments): \(result.output)")
        return (result.output, Date().timeIntervalSince1970)
    }

    /// The replies after `returned + cutOffSeconds` (none allowed) and before it.
    private func expectCutOff(_ lab: NetworkLab, ping: Process, log: String, returned: Double) throws {
        try lab.wait("the ping to end", timeout: 15) { !ping.isRunning }
        let times = replyTimes(lab.log(log))
        let late = times.filter { $0 > returned + Self.cutOffSeconds }
        if let last = times.last { print("revocation: last reply \(String(format: "%.3f", last - returned)) s after the command returned; \(times.count) replies, \(late.count) late") }
        #expect(!times.isEmpty && late.isEmpty, "\(late.count) of \(times.count) replies came more than \(Self.cutOffSeconds) s after the revocation: \(lab.log(log).suffix(600))")
    }

    @Test("disable: pings stop within 1 s, bootstrap refused; enable: bootstrap again; remove: cut off likewise")
    func disableEnableRemove() throws {
        guard requireRoot() else { return }
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        let certificates = try CertificateFactory()
        defer { certificates.remove() }
        do {
            let topology = try Topology(lab: lab)
            let deployment = try ControllerDeployment(topology: topology, certificates: certificates)
            let identity = "laptop@example.test"
            let config = lab.directory.appendingPathComponent("mn.yaml").path

            let ping = try startPing(lab, topology, name: "ping")
            let (disabled, returned) = try users(deployment, ["disable", identity])
            #expect(disabled.contains("home agent: revoked \(identity): SA(s)"), "\(disabled)")
            try expectCutOff(lab, ping: ping, log: "ping", returned: returned)
            #expect(lab.log("ha").contains("revoked \(identity)"), "\(lab.log("ha").suffix(1000))")
            let listed = try lab.run([deployment.binary, "users", "list", "--database", deployment.database])
            #expect(listed.contains("\(identity) (disabled): home addresses 192.0.2.2"), "lease kept: \(listed)")

            // A new bootstrap of the disabled identity is refused, as for an unknown identity (DESIGN.md:
            // the HAC's Init is keyed with its dummy key, so the MN sees an `auth` that does not verify).
            lab.stop(try #require(deployment.mobileNode))
            let refused = try lab.execute([deployment.binary, "mn", "--config", config], in: topology.mobileNodes[0], timeout: 30)
            #expect(refused.status != 0, "\(refused.output)")
            #expect(refused.output.contains("authentication failed"), "\(refused.output)")
            #expect(!refused.output.contains("registered"), "\(refused.output)")

            _ = try users(deployment, ["enable", identity])
            let again = try lab.start("mn2", [deployment.binary, "mn", "--config", config], in: topology.mobileNodes[0])
            try lab.wait("the enabled node to register", timeout: 20) {
                if !again.isRunning { throw LabError("tern mn exited: \(lab.log("mn2"))") }
                return lab.log("mn2").contains("registered: lifetime")
            }
            #expect(lab.log("mn2").contains("home addresses 192.0.2.2"), "the same lease: \(lab.log("mn2").prefix(2000))")

            let second = try startPing(lab, topology, name: "ping2")
            let (removed, removedAt) = try users(deployment, ["remove", identity])
            #expect(removed.contains("home agent: revoked \(identity): SA(s)") && removed.contains("removed \(identity)"), "\(removed)")
            try expectCutOff(lab, ping: second, log: "ping2", returned: removedAt)
            lab.stop(again)

            // No HA answering: the database still changes, and the command says so.
            let spare = "spare@example.test"
            try lab.run([
                deployment.binary, "users", "add", "--database", deployment.database, spare, "--psk-file",
                lab.directory.appendingPathComponent("spare.psk").path,
            ])
            let (alone, _) = try users(deployment, ["disable", spare], socket: lab.directory.appendingPathComponent("none.sock").path)
            #expect(alone.contains("disabled \(spare)") && alone.contains("no home agent answered"), "\(alone)")
            let shown = try lab.run([deployment.binary, "users", "show", "--database", deployment.database, spare])
            #expect(shown.contains("(disabled)"), "\(shown)")
        } catch {
            lab.printLogs(["ha", "mn0", "mn2", "ping", "ping2"])
            throw error
        }
    }
}
