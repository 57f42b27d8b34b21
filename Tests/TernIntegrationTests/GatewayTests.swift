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
            lab.printLogs(["ha", "mn", "mn2"])
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

    @Test("with the HA's loopback down, nft runs at start and at stop, and SIGTERM ends the HA within seconds")
    func loopbackDown() throws {
        try withLab { topology in
            let lab = topology.lab
            // Foundation's Process, which ran nft before, never saw its child exit here (it needs a socket
            // pair on loopback): every nft run took the whole 10 s timeout, and SIGTERM seemed to hang.
            try lab.run(["ip", "-n", topology.homeAgent, "link", "set", "lo", "down"])
            let deployment = try RoamingDeployment(topology: topology)
            let table = try lab.run(["nft", "list", "table", "ip", "tern_tern0"], in: topology.homeAgent)
            #expect(table.contains("masquerade"), "\(table)")
            let stopping = Date()
            let status = lab.stop(deployment.homeAgentProcess, grace: 15)
            let seconds = Date().timeIntervalSince(stopping)
            #expect(status == 0, "tern ha exited \(status): \(lab.log("ha").suffix(1000))")
            #expect(seconds < 5, "tern ha took \(seconds) s to stop: \(lab.log("ha").suffix(1000))")
            #expect(!lab.log("ha").contains("did not finish"), "\(lab.log("ha").suffix(1000))")
            let tables = try lab.run(["nft", "list", "tables"], in: topology.homeAgent)
            #expect(!tables.contains("tern_"), "left behind: \(tables)")
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

    /// What the MN changes on its system, in its namespace: `ip rule` and every routing table (both
    /// families), the nftables tables, the reverse-path sysctls, and the (private) resolver.
    private func systemSnapshot(_ topology: RoamingTopology, _ resolver: PrivateResolver) throws -> String {
        let lab = topology.lab
        let routing = try ["-4", "-6"].map { family in
            try lab.run(["ip", family, "rule", "show"], in: topology.mobileNode)
                + lab.run(["ip", family, "route", "show", "table", "all"], in: topology.mobileNode)
        }.joined()
        let tables = try lab.run(["nft", "list", "tables"], in: topology.mobileNode)
        let sysctls = try Self.reversePathSysctls.map { name in
            "\(name)=" + (try lab.run(["sysctl", "-n", name], in: topology.mobileNode)).trimmingCharacters(in: .whitespacesAndNewlines)
        }.joined(separator: "\n")
        return [routing, "nft tables:\n" + tables, sysctls, resolver.snapshot()].joined(separator: "\n")
    }

    private static let reversePathSysctls = ["net.ipv4.conf.all.rp_filter", "net.ipv4.conf.all.src_valid_mark"]
    /// The DNS servers the MN is given; its uplink's (a DHCP client's record) is 198.18.1.1.
    private static let tunnelDNS = ["192.0.2.53", "2001:db8:1::53"]
    private static let fullTunnelLines = "  full-tunnel: true\n  dns-servers: [\"192.0.2.53\", \"2001:db8:1::53\"]"

    /// The MN's namespace as a laptop with strict reverse-path filtering and a DHCP-configured resolver
    /// (through openresolv, private to the lab), before the MN starts.
    private func prepareMobileNode(_ topology: RoamingTopology) throws -> PrivateResolver {
        let lab = topology.lab
        try lab.run(["sysctl", "-q", "-w", "net.ipv4.conf.all.rp_filter=1"], in: topology.mobileNode)
        let resolver = try PrivateResolver(lab: lab, original: "nameserver 198.18.1.1\n")
        try resolver.register("\(topology.wifi).dhcp", servers: ["198.18.1.1"], in: topology.mobileNode)
        return resolver
    }

    /// While the MN runs: its servers alone (exclusive) in the resolver, the reply marking in place.
    private func expectApplied(_ topology: RoamingTopology, _ resolver: PrivateResolver, log: String) throws {
        let lab = topology.lab
        let resolvConf = try String(contentsOfFile: resolver.resolvConf, encoding: .utf8)
        for server in Self.tunnelDNS { #expect(resolvConf.contains("nameserver \(server)\n"), "\(resolvConf)") }
        #expect(!resolvConf.contains("198.18.1.1"), "exclusive: the uplink's server is not used meanwhile: \(resolvConf)")
        #expect(
            lab.log(log).contains("DNS: 192.0.2.53, 2001:db8:1::53 applied through resolvconf (openresolv)"),
            "\(lab.log(log).suffix(2000))")
        let table = try lab.run(["nft", "list", "table", "inet", "tern_mark_tern0"], in: topology.mobileNode)
        #expect(table.contains("meta mark set ct mark") && table.contains("ct mark set meta mark"), "\(table)")
        let mark = try lab.run(["sysctl", "-n", "net.ipv4.conf.all.src_valid_mark"], in: topology.mobileNode)
        #expect(mark.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
    }

    @Test("full tunnel: everything goes through the HA, the tunnel's own packets stay outside it, strict rp_filter passes, DNS applied, roaming works; all restored on stop")
    func fullTunnel() throws {
        try withLab { topology in
            let lab = topology.lab
            let host = PrivateResolver.hostSnapshot()
            let resolver = try prepareMobileNode(topology)
            let before = try systemSnapshot(topology, resolver)
            // A rule that a crashed run left: removed at start, so the state after the stop is `before`.
            try lab.run(["ip", "rule", "add", "priority", "7871", "not", "fwmark", "7872", "table", "7872"], in: topology.mobileNode)

            let deployment = try RoamingDeployment(
                topology: topology, tunnelLines: Self.fullTunnelLines, mobileNodeWrapper: resolver.wrapper)
            let rules = try lab.run(["ip", "rule", "show"], in: topology.mobileNode)
            #expect(rules.contains("7870:") && rules.contains("suppress_prefixlength 0"), "\(rules)")
            #expect(rules.components(separatedBy: "not from all fwmark 0x1ec0 lookup 7872").count == 2, "\(rules)")
            // Unmarked packets to the HA go into the tunnel; marked ones (the tunnel's own) leave by wifi.
            let unmarked = try lab.run(["ip", "route", "get", RoamingTopology.haUnderlay4], in: topology.mobileNode)
            #expect(unmarked.contains("dev tern0"), "\(unmarked)")
            let marked = try lab.run(
                ["ip", "route", "get", RoamingTopology.haUnderlay4, "mark", "7872"], in: topology.mobileNode)
            #expect(marked.contains("dev \(topology.wifi)"), "\(marked)")
            try expectApplied(topology, resolver, log: "mn")

            // The router knows no route to the correspondent: only the tunnel reaches it. rp_filter is
            // strict (1): the HA's replies pass only because they get the mark back.
            let received = try deployment.status(deployment.haStatus)["packetsReceived"] as? Int ?? 0
            for target in [RoamingTopology.cn4, RoamingTopology.cn6] {
                let output = try ping(topology, target)
                #expect(output.contains(" 0% packet loss"), "\(target): \(output)")
            }
            try lab.wait("the HA to count the pings", timeout: 5) {
                (try deployment.status(deployment.haStatus)["packetsReceived"] as? Int ?? 0) >= received + 6
            }
            // The control: without src_valid_mark the reverse-path check ignores the mark and drops the
            // HA's replies; with it back, traffic flows again.
            try lab.run(["sysctl", "-q", "-w", "net.ipv4.conf.all.src_valid_mark=0"], in: topology.mobileNode)
            let dropped = try ping(topology, RoamingTopology.cn4, count: 2)
            #expect(dropped.contains("100% packet loss"), "strict rp_filter without src_valid_mark: \(dropped)")
            try lab.run(["sysctl", "-q", "-w", "net.ipv4.conf.all.src_valid_mark=1"], in: topology.mobileNode)
            let again = try ping(topology, RoamingTopology.cn4)
            #expect(again.contains(" 0% packet loss"), "with src_valid_mark back: \(again)")

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
            let after = try systemSnapshot(topology, resolver)
            #expect(after == before, "before:\n\(before)\nafter:\n\(after)")
            #expect(PrivateResolver.hostSnapshot() == host, "the machine's own resolver changed")
        }
    }

    @Test("full tunnel killed (SIGKILL): its rules, marks and DNS stay; the next start cleans up and its stop restores everything")
    func fullTunnelAfterKill() throws {
        try withLab { topology in
            let lab = topology.lab
            let host = PrivateResolver.hostSnapshot()
            let resolver = try prepareMobileNode(topology)
            let before = try systemSnapshot(topology, resolver)
            var deployment = try RoamingDeployment(
                topology: topology, tunnelLines: Self.fullTunnelLines, mobileNodeWrapper: resolver.wrapper)
            try expectApplied(topology, resolver, log: "mn")

            kill(deployment.mobileNodeProcess.processIdentifier, SIGKILL)
            #expect(lab.stop(deployment.mobileNodeProcess) == SIGKILL)
            // What a killed MN leaves (the TUN device and its table's routes go with the process).
            let left = try systemSnapshot(topology, resolver)
            #expect(left != before)
            #expect(left.contains("7870:") && left.contains("tern_mark_tern0"), "\(left)")
            #expect(left.contains("net.ipv4.conf.all.src_valid_mark=1") && left.contains("192.0.2.53"), "\(left)")
            #expect(FileManager.default.fileExists(atPath: lab.directory.appendingPathComponent("tern0.src_valid_mark").path))

            try deployment.restartMobileNode(log: "mn2")
            #expect(lab.log("mn2").contains("an earlier run did not stop cleanly"), "\(lab.log("mn2"))")
            let rules = try lab.run(["ip", "rule", "show"], in: topology.mobileNode)
            #expect(rules.components(separatedBy: "7871:").count == 2, "one copy of each rule: \(rules)")
            try expectApplied(topology, resolver, log: "mn2")

            let status = lab.stop(deployment.mobileNodeProcess)
            #expect(status == 0, "tern mn exited \(status): \(lab.log("mn2").suffix(1000))")
            let after = try systemSnapshot(topology, resolver)
            #expect(after == before, "before:\n\(before)\nafter:\n\(after)")
            #expect(PrivateResolver.hostSnapshot() == host, "the machine's own resolver changed")
        }
    }
}
