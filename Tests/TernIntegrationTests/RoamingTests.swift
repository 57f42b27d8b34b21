import Foundation
import Testing
import TernTestSupport

/// Roaming in network namespaces: the Mobile Node changes uplink, NAT mapping, address family, and is
/// frozen past its binding's lifetime, while a checksummed TCP transfer and a 100-a-second ping run
/// from its Home Address to the correspondent. Tern learns of every move by itself (rtnetlink): the
/// tests only change links and routes. They assert correctness — the transfer arrives intact, the
/// binding is where it should be — and print the loss they saw; timings belong to the roaming
/// benchmark (Benchmarks/roaming), not here.
@Suite("Roaming in network namespaces", .serialized)
struct RoamingTests {
    private func withRoamingLab(
        bindingLifetime: Int = 600, _ body: (RoamingTopology, RoamingDeployment) throws -> Void
    ) throws {
        guard requireRoot() else { return }
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        do {
            let topology = try RoamingTopology(lab: lab)
            let deployment = try RoamingDeployment(topology: topology, bindingLifetime: bindingLifetime)
            try deployment.startEchoServers()
            try body(topology, deployment)
        } catch {
            for name in ["ha", "mn", "transfer", "ping"] where !lab.log(name).isEmpty {
                print("--- \(name).log ---\n\(lab.log(name).suffix(4000))")
            }
            throw error
        }
    }

    /// Waits (bounded) until the HA's status file shows the binding satisfying `condition`.
    private func waitForBinding(
        _ deployment: RoamingDeployment, _ what: String, timeout: Double = 10,
        _ condition: @escaping ([String: Any]) -> Bool
    ) throws {
        try deployment.topology.lab.wait(what, timeout: timeout) { condition(try deployment.binding()) }
    }

    private func endpoint(_ binding: [String: Any]) -> String { binding["endpoint"] as? String ?? "" }

    @Test("make before break: lte comes up and takes the default route, then wifi goes; nothing breaks")
    func makeBeforeBreak() throws {
        try withRoamingLab { topology, deployment in
            try waitForBinding(deployment, "the binding on wifi") { self.endpoint($0).hasPrefix(RoamingTopology.wifi4 + ":") }
            let traffic = try deployment.startTraffic(bytes: 3_000_000, rate: 1_000_000, pings: 400)
            usleep(1_000_000)
            try topology.useUplink(topology.lte)
            usleep(500_000)
            try topology.linkDown(topology.wifi)
            let result = try deployment.finish(traffic)
            #expect(result.transfer.hasPrefix("OK 3000000"), "transfer: \(result.transfer)")
            print("make before break: ping \(result.received)/\(result.transmitted) received")
            #expect(result.transmitted >= 300)
            // Behind the NAT now: the HA sends to the NAT's outside address and knows it is a NAT.
            try waitForBinding(deployment, "the binding behind the NAT") {
                self.endpoint($0).hasPrefix(RoamingTopology.natOutside4 + ":") && $0["behindNAT"] as? Bool == true
                    && $0["careOfAddress"] as? String == RoamingTopology.lte4
            }
            let handover = try #require(try deployment.handovers().last { $0["to"] as? String == RoamingTopology.lte4 })
            #expect(handover["trigger"] as? String == "path-change")
            #expect(handover["acknowledgedAfterMilliseconds"] is Double, "\(handover)")
            #expect(handover["firstDataAfterMilliseconds"] is Double, "\(handover)")
        }
    }

    @Test("break before make: wifi goes, then lte comes up; the transfer survives the outage")
    func breakBeforeMake() throws {
        try withRoamingLab { topology, deployment in
            let traffic = try deployment.startTraffic(bytes: 3_000_000, rate: 1_000_000, pings: 400)
            usleep(1_000_000)
            try topology.linkDown(topology.wifi)
            usleep(300_000)
            try topology.useUplink(topology.lte)
            let result = try deployment.finish(traffic)
            #expect(result.transfer.hasPrefix("OK 3000000"), "transfer: \(result.transfer)")
            let lost = result.transmitted - result.received
            print("break before make: \(lost) of \(result.transmitted) pings lost (~\(lost * 10) ms dark; 300 ms of it the link gap)")
            #expect(result.received > 0)
            try waitForBinding(deployment, "the binding behind the NAT") {
                self.endpoint($0).hasPrefix(RoamingTopology.natOutside4 + ":")
            }
        }
    }

    @Test("NAT rebinding: the NAT forgets the mapping and picks a new port; the next packet heals it")
    func natRebinding() throws {
        try withRoamingLab { topology, deployment in
            try topology.useUplink(topology.lte)
            try topology.linkDown(topology.wifi)
            try waitForBinding(deployment, "the binding behind the NAT") {
                self.endpoint($0).hasPrefix(RoamingTopology.natOutside4 + ":")
            }
            let before = endpoint(try deployment.binding())
            let traffic = try deployment.startTraffic(bytes: 3_000_000, rate: 1_000_000, pings: 400)
            usleep(1_000_000)
            // Drop every UDP mapping; with `masquerade random` the next one gets a fresh port.
            try topology.lab.run(["conntrack", "-D", "-p", "udp"], in: topology.nat)
            let result = try deployment.finish(traffic)
            #expect(result.transfer.hasPrefix("OK 3000000"), "transfer: \(result.transfer)")
            print("NAT rebinding: ping \(result.received)/\(result.transmitted) received")
            try waitForBinding(deployment, "the binding to follow the new NAT port") {
                let now = self.endpoint($0)
                return now.hasPrefix(RoamingTopology.natOutside4 + ":") && now != before
            }
        }
    }

    @Test("IPv4 care-of ↔ IPv6 care-of: the IPv4 route goes away and comes back")
    func careOfAddressFamilySwitch() throws {
        try withRoamingLab { topology, deployment in
            let traffic = try deployment.startTraffic(bytes: 4_000_000, rate: 1_000_000, pings: 500)
            usleep(1_000_000)
            try topology.mobileNodeIP([["route", "del", "default"]])
            try waitForBinding(deployment, "the binding to move to IPv6") {
                self.endpoint($0).hasPrefix("[\(RoamingTopology.wifi6)]:")
                    && $0["careOfAddress"] as? String == RoamingTopology.wifi6
            }
            try topology.mobileNodeIP([["route", "add", "default", "via", RoamingTopology.wifiGateway4]])
            try waitForBinding(deployment, "the binding to move back to IPv4") {
                self.endpoint($0).hasPrefix(RoamingTopology.wifi4 + ":")
                    && $0["careOfAddress"] as? String == RoamingTopology.wifi4
            }
            let result = try deployment.finish(traffic)
            #expect(result.transfer.hasPrefix("OK 4000000"), "transfer: \(result.transfer)")
            print("IPv4 ↔ IPv6 care-of: ping \(result.received)/\(result.transmitted) received")
            let moves = try deployment.handovers().compactMap { $0["to"] as? String }
            #expect(moves.suffix(2) == [RoamingTopology.wifi6, RoamingTopology.wifi4], "\(moves)")
        }
    }

    @Test("idle move: the MN registers its new address by itself, so the correspondent reaches it")
    func idleMove() throws {
        try withRoamingLab { topology, deployment in
            let lab = topology.lab
            try waitForBinding(deployment, "the binding on wifi") { self.endpoint($0).hasPrefix(RoamingTopology.wifi4 + ":") }
            // No traffic from the MN: only its own Binding Update can tell the HA where it went.
            try topology.useUplink(topology.lte)
            try topology.linkDown(topology.wifi)
            try waitForBinding(deployment, "the binding to follow the idle MN") {
                self.endpoint($0).hasPrefix(RoamingTopology.natOutside4 + ":")
            }
            // Traffic toward the MN, started on the correspondent's side: every echo request has to find
            // the MN at its new address through the NAT mapping its Binding Update opened.
            let ping = try lab.run(
                ["ping", "-c", "5", "-i", "0.2", "-W", "2", "-w", "10", RoamingTopology.homeAddress4],
                in: topology.correspondent, timeout: 15)
            #expect(ping.contains(" 0% packet loss"), "\(ping)")
            let handover = try #require(try deployment.handovers().last)
            #expect(handover["to"] as? String == RoamingTopology.lte4)
            #expect(handover["acknowledgedAfterMilliseconds"] is Double, "\(handover)")
        }
    }

    @Test("suspend/resume: frozen past its binding's lifetime, the MN registers again by itself")
    func suspendResume() throws {
        try withRoamingLab(bindingLifetime: 8) { topology, deployment in
            let lab = topology.lab
            let pid = deployment.mobileNodeProcess.processIdentifier
            #expect(kill(pid, SIGSTOP) == 0)
            // The HA lets the binding lapse, and stops sending to the MN.
            try waitForBinding(deployment, "the HA to let the binding expire", timeout: 15) {
                $0["registered"] as? Bool == false
            }
            #expect(kill(pid, SIGCONT) == 0)
            try waitForBinding(deployment, "the MN to register again", timeout: 10) { $0["registered"] as? Bool == true }
            let ping = try lab.run(
                ["ping", "-c", "5", "-i", "0.2", "-W", "2", "-w", "10", RoamingTopology.cn4], in: topology.mobileNode,
                timeout: 15)
            #expect(ping.contains(" 0% packet loss"), "\(ping)")
            let triggers = try deployment.handovers().compactMap { $0["trigger"] as? String }
            #expect(triggers.contains("expired"), "\(triggers)")
            #expect(lab.log("ha").contains("binding of laptop expired"))
        }
    }

    @Test("forged and replayed Binding Updates from another host change nothing")
    func forgedBindingUpdates() throws {
        try withRoamingLab { topology, deployment in
            let lab = topology.lab
            let attack = repositoryRoot.appendingPathComponent("scripts/testing/udp_attack.py").path
            let capture = lab.directory.appendingPathComponent("bu.hex").path
            // Capture the Binding Update of a move, on the router's port toward the HA.
            let sniffer = try lab.start(
                "sniff", ["python3", attack, "sniff", topology.routerToHomeAgent, "7872", "1", capture, "8"], in: topology.router)
            try lab.wait("the sniffer to listen", timeout: 10) { lab.log("sniff").contains("sniffing") }
            try topology.useUplink(topology.lte)
            try lab.wait("the capture", timeout: 20) { !sniffer.isRunning }
            try waitForBinding(deployment, "the binding behind the NAT") {
                self.endpoint($0).hasPrefix(RoamingTopology.natOutside4 + ":") && $0["registered"] as? Bool == true
            }
            usleep(1_200_000)  // one more status write, so `before` is settled
            let before = try deployment.binding()
            let movesBefore = try deployment.status(deployment.haStatus)["bindingMoves"] as? Int

            try lab.run(["python3", attack, "replay", RoamingTopology.haUnderlay4, "7872", capture], in: topology.attacker)
            try lab.run(
                ["python3", attack, "forge", RoamingTopology.haUnderlay4, "7872", "50", "\(RoamingDeployment.spi)", "8"],
                in: topology.attacker)
            try lab.wait("the HA to count the forgeries", timeout: 10) {
                let drops = try deployment.status(deployment.haStatus)["drops"] as? [String: Int] ?? [:]
                return (drops["authentication_failed"] ?? 0) >= 50 && (drops["replayed"] ?? 0) + (drops["too_old"] ?? 0) >= 1
            }
            let after = try deployment.binding()
            #expect(endpoint(after) == endpoint(before))
            #expect(after["sequenceNumber"] as? Int == before["sequenceNumber"] as? Int)
            #expect(after["careOfAddress"] as? String == RoamingTopology.lte4)
            #expect(try deployment.status(deployment.haStatus)["bindingMoves"] as? Int == movesBefore)
            let ping = try lab.run(
                ["ping", "-c", "3", "-i", "0.2", "-W", "2", "-w", "8", RoamingTopology.cn4], in: topology.mobileNode,
                timeout: 12)
            #expect(ping.contains(" 0% packet loss"), "\(ping)")
        }
    }
}
