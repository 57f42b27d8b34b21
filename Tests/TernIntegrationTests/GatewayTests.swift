import Foundation
import Testing

/// The Home Agent as a gateway (IP forwarding, IPv4 masquerade with nftables) and the Mobile Node's full
/// tunnel (policy routing), on the roaming topology, where the correspondent is reachable only through
/// the HA and the HA only through the MN's default route. Both check that what the daemons changed is
/// gone after they stop.
@Suite("Gateway and full tunnel in network namespaces", .serialized)
struct GatewayTests {
    private func withLab(_ body: (RoamingTopology) throws -> Void) throws {
        guard requireRoot() else { return }
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        do {
            try body(try RoamingTopology(lab: lab))
        } catch {
            for name in ["ha", "mn"] where !lab.log(name).isEmpty {
                print("--- \(name).log ---\n\(lab.log(name).suffix(3000))")
            }
            throw error
        }
    }

    private static let forwardingSysctls = ["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"]

    private func sysctls(_ lab: NetworkLab, _ namespace: String) throws -> [String] {
        try Self.forwardingSysctls.map {
            try lab.run(["sysctl", "-n", $0], in: namespace).trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    /// The correspondent forgets its route back to the Home Addresses: only masquerade lets it answer.
    private func forgetHomeRoute(_ topology: RoamingTopology) throws {
        try topology.lab.run(["ip", "-n", topology.correspondent, "route", "del", "default"])
        // The HA starts with forwarding off, so that the test sees it turned on and put back.
        for name in Self.forwardingSysctls {
            try topology.lab.run(["sysctl", "-q", "-w", "\(name)=0"], in: topology.homeAgent)
        }
    }

    private func ping(_ topology: RoamingTopology, _ target: String, count: Int = 3) throws -> String {
        try topology.lab.execute(
            ["ping", "-c", "\(count)", "-i", "0.2", "-W", "1", "-w", "\(count + 3)", target], in: topology.mobileNode,
            timeout: Double(count + 10)
        ).output
    }

    @Test("masquerade lets a correspondent without a route to the Home Addresses answer; all undone on stop")
    func masquerade() throws {
        try withLab { topology in
            let lab = topology.lab
            try forgetHomeRoute(topology)
            // A table of the same name, as a crashed run would leave it: replaced at start.
            let stale = try lab.write("stale.nft", "table ip tern_tern0 {\n\tchain stale_chain {\n\t}\n}\n", mode: 0o644)
            try lab.run(["nft", "-f", stale], in: topology.homeAgent)

            let deployment = try RoamingDeployment(topology: topology)
            #expect(try sysctls(lab, topology.homeAgent) == ["1", "1"])
            let table = try lab.run(["nft", "list", "table", "ip", "tern_tern0"], in: topology.homeAgent)
            #expect(table.contains("masquerade") && table.contains("192.0.2.10"), "\(table)")
            #expect(!table.contains("stale_chain"), "the stale table survived: \(table)")

            let output = try ping(topology, RoamingTopology.cn4)
            #expect(output.contains(" 0% packet loss"), "\(output)")

            let status = lab.stop(deployment.homeAgentProcess)
            #expect(status == 0, "tern ha exited \(status): \(lab.log("ha").suffix(1000))")
            let tables = try lab.run(["nft", "list", "tables"], in: topology.homeAgent)
            #expect(!tables.contains("tern_"), "left behind: \(tables)")
            #expect(try sysctls(lab, topology.homeAgent) == ["0", "0"])
        }
    }

    @Test("masquerade: false — the correspondent cannot answer a Home Address it has no route to")
    func noMasquerade() throws {
        try withLab { topology in
            let lab = topology.lab
            try forgetHomeRoute(topology)
            let deployment = try RoamingDeployment(topology: topology, homeAgentLines: "gateway:\n  masquerade: false")
            #expect(try sysctls(lab, topology.homeAgent) == ["1", "1"])
            let tables = try lab.run(["nft", "list", "tables"], in: topology.homeAgent)
            #expect(!tables.contains("tern_"), "\(tables)")
            let output = try ping(topology, RoamingTopology.cn4, count: 2)
            #expect(output.contains("100% packet loss"), "\(output)")
            // IPv6 needs no masquerade: the correspondent's IPv6 default route still points at the HA.
            let ping6 = try ping(topology, RoamingTopology.cn6)
            #expect(ping6.contains(" 0% packet loss"), "\(ping6)")
            lab.stop(deployment.homeAgentProcess)
            #expect(try sysctls(lab, topology.homeAgent) == ["0", "0"])
        }
    }

    /// `ip rule` and every routing table of the MN, both families.
    private func routingSnapshot(_ topology: RoamingTopology) throws -> String {
        try ["-4", "-6"].map { family in
            try topology.lab.run(["ip", family, "rule", "show"], in: topology.mobileNode)
                + topology.lab.run(["ip", family, "route", "show", "table", "all"], in: topology.mobileNode)
        }.joined()
    }

    @Test("full tunnel: everything goes through the HA, the tunnel's own packets stay outside it, roaming works; restored on stop")
    func fullTunnel() throws {
        try withLab { topology in
            let lab = topology.lab
            let before = try routingSnapshot(topology)
            // A rule that a crashed run left: removed at start, so the state after the stop is `before`.
            try lab.run(["ip", "rule", "add", "priority", "7871", "not", "fwmark", "7872", "table", "7872"], in: topology.mobileNode)

            let deployment = try RoamingDeployment(topology: topology, tunnelLines: "  full-tunnel: true")
            let rules = try lab.run(["ip", "rule", "show"], in: topology.mobileNode)
            #expect(rules.contains("7870:") && rules.contains("suppress_prefixlength 0"), "\(rules)")
            #expect(rules.components(separatedBy: "not from all fwmark 0x1ec0 lookup 7872").count == 2, "\(rules)")
            // Unmarked packets to the HA go into the tunnel; marked ones (the tunnel's own) leave by wifi.
            let unmarked = try lab.run(["ip", "route", "get", RoamingTopology.haUnderlay4], in: topology.mobileNode)
            #expect(unmarked.contains("dev tern0"), "\(unmarked)")
            let marked = try lab.run(
                ["ip", "route", "get", RoamingTopology.haUnderlay4, "mark", "7872"], in: topology.mobileNode)
            #expect(marked.contains("dev \(topology.wifi)"), "\(marked)")

            // The router knows no route to the correspondent: only the tunnel reaches it.
            let received = try deployment.status(deployment.haStatus)["packetsReceived"] as? Int ?? 0
            for target in [RoamingTopology.cn4, RoamingTopology.cn6] {
                let output = try ping(topology, target)
                #expect(output.contains(" 0% packet loss"), "\(target): \(output)")
            }
            try lab.wait("the HA to count the pings", timeout: 5) {
                (try deployment.status(deployment.haStatus)["packetsReceived"] as? Int ?? 0) >= received + 6
            }

            // Roam to lte (behind the NAT): the tunnel follows instead of routing into itself.
            try topology.useUplink(topology.lte)
            try topology.linkDown(topology.wifi)
            try lab.wait("a handover to lte", timeout: 10) {
                (try deployment.handovers()).count >= 2
            }
            let afterMove = try ping(topology, RoamingTopology.cn4)
            #expect(afterMove.contains(" 0% packet loss"), "after the move: \(afterMove)")

            let status = lab.stop(deployment.mobileNodeProcess)
            #expect(status == 0, "tern mn exited \(status): \(lab.log("mn").suffix(1000))")
            // Put the uplinks back as they were, then compare.
            try topology.useUplink(topology.wifi)
            try topology.linkDown(topology.lte)
            let after = try routingSnapshot(topology)
            #expect(after == before, "before:\n\(before)\nafter:\n\(after)")
        }
    }
}
