import Foundation
import TernProtocol
import Testing
import TernTestSupport

/// End-to-end tests of the tunnel in network namespaces: real TUN devices, real veths, the real `tern`
/// binary. They need root; they run serially because each builds a whole network.
@Suite("Tunnel in network namespaces", .serialized)
struct TunnelTests {
    /// Sets up a lab, runs `body`, and always tears the lab down.
    private func withLab(
        mobileNodes: Int = 1, attacker: Bool = false, _ body: (Topology) throws -> Void
    ) throws {
        guard requireRoot() else { return }
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        do {
            try body(try Topology(lab: lab, mobileNodes: mobileNodes, attacker: attacker))
        } catch {
            // Show what the daemons said: the error alone rarely explains a tunnel that does not pass.
            lab.printLogs(["ha", "mn0", "mn1"])
            throw error
        }
    }

    @Test(
        "ping, a checksummed TCP stream and checked UDP datagrams (odd sizes, UDP_SEGMENT), IPv4 and IPv6 inside, over IPv4 and IPv6 outside, offloads on and off",
        arguments: [false, true], [true, false])
    func families(outerIPv6: Bool, offloads: Bool) throws {
        try withLab { topology in
            let deployment = try TernDeployment(
                topology: topology, associations: [TestSecurityAssociation(spi: 4660)], outerIPv6: outerIPv6,
                offloads: offloads)
            try checkTraffic(deployment, topology)
            // With offloads the MN's TCP stack hands its TUN device super-packets (TSO, and USO for the
            // segmented datagrams), and the HA writes coalesced ones (GRO) into its own; without, none.
            var (read, written) = (-1, -1)
            try? topology.lab.wait("the status files to count super-packets", timeout: offloads ? 5 : 1.5) {
                read = try deployment.mobileNodeStatus()["superPacketsRead"] as? Int ?? -1
                written = try deployment.homeAgentStatus()["superPacketsWritten"] as? Int ?? -1
                return read > 0 && written > 0
            }
            if offloads {
                #expect(read > 0 && written > 0, "super-packets: MN read \(read), HA wrote \(written)")
                #expect(topology.lab.log("ha").contains("UDP GRO on, UDP GSO on"), "\(topology.lab.log("ha"))")
            } else {
                #expect(read == 0 && written == 0, "super-packets: MN read \(read), HA wrote \(written)")
                #expect(topology.lab.log("mn0").contains("offloads: TUN [none], UDP GRO off, UDP GSO off"))
            }
        }
    }

    /// Ping, a checksummed TCP stream and checked UDP datagrams (odd sizes, UDP_SEGMENT) to both
    /// correspondents, IPv4 and IPv6 inside; then waits (bounded) for the HA's status file to count them.
    private func checkTraffic(_ deployment: TernDeployment, _ topology: Topology) throws {
        try deployment.startEchoServers()
        // Idle is idle: neither TUN device solicits a router (the kernel would, for ever, through the tunnel).
        for namespace in [topology.homeAgent, topology.mobileNodes[0]] {
            let solicitations = try topology.lab.run(["cat", "/proc/sys/net/ipv6/conf/tern0/router_solicitations"], in: namespace)
            #expect(solicitations.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "\(namespace)")
        }
        for target in [Topology.cn4, Topology.cn6] {
            let ping = try deployment.ping(target)
            #expect(ping.contains(" 0% packet loss"), "ping \(target): \(ping)")
            let stream = try deployment.transfer(2_000_000, to: target)
            #expect(stream.hasPrefix("OK 2000000"), "stream to \(target): \(stream)")
            for (size, segmented) in [(1001, false), (1200, true)] {
                let datagrams = try topology.datagrams(groups: 20, size: size, segmented: segmented, to: target)
                #expect(datagrams.hasPrefix("OK"), "UDP \(size) segmented \(segmented) to \(target): \(datagrams)")
            }
        }
        // The status file is rewritten every second: wait (bounded) for it to catch up.
        try topology.lab.wait("the HA to count the streams", timeout: 5) {
            let status = try deployment.homeAgentStatus()
            return (status["packetsReceived"] as? Int ?? 0) > 1000 && (status["packetsSent"] as? Int ?? 0) > 1000
        }
    }

    /// The names of the threads of process `pid` (from /proc: the daemons run in this PID namespace).
    private func threadNames(_ pid: Int32) -> [String] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.compactMap { task in
            (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/comm", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    @Test(
        "crypto-threads 2 on both daemons: the same checked traffic, with batches really spread over the crypto lanes",
        arguments: [(false, true), (true, false)])
    func cryptoLanes(outerIPv6: Bool, offloads: Bool) throws {
        try withLab { topology in
            let deployment = try TernDeployment(
                topology: topology, associations: [TestSecurityAssociation(spi: 4661)], outerIPv6: outerIPv6,
                offloads: offloads, cryptoThreads: 2)
            // One worker per data-plane thread, named after it.
            for (name, process, role) in [
                ("ha", deployment.homeAgentProcess, "ha"), ("mn0", deployment.mobileNodeProcesses.first, "mn"),
            ] {
                let names = process.map { threadNames($0.processIdentifier) } ?? []
                for worker in ["tern-\(role)-tx-c1", "tern-\(role)-rx-c1"] {
                    #expect(names.contains(worker), "\(name) threads: \(names.sorted())")
                }
                #expect(!names.contains("tern-\(role)-tx-c2"), "\(name) threads: \(names.sorted())")
                #expect(topology.lab.log(name).contains("crypto threads: 2"), "\(topology.lab.log(name))")
            }
            try checkTraffic(deployment, topology)
            // Both directions of the streams came in batches big enough to spread: the MN's sending and
            // the HA's receiving thread, and the HA's sending and the MN's receiving thread.
            var (mobileNode, homeAgent) = (-1, -1)
            try? topology.lab.wait("the status files to count split batches", timeout: 5) {
                mobileNode = try deployment.mobileNodeStatus()["cryptoBatchesSplit"] as? Int ?? -1
                homeAgent = try deployment.homeAgentStatus()["cryptoBatchesSplit"] as? Int ?? -1
                return mobileNode > 0 && homeAgent > 0
            }
            #expect(mobileNode > 0 && homeAgent > 0, "batches split: MN \(mobileNode), HA \(homeAgent)")
            let drops = try deployment.homeAgentStatus()["drops"] as? [String: Int] ?? [:]
            for reason in ["authentication_failed", "replayed", "too_old", "seal_failed", "crypto_failure"] {
                #expect(drops[reason] == nil, "HA drops: \(drops)")
            }
            let mobileNodeDrops = try deployment.mobileNodeStatus()["drops"] as? [String: Int] ?? [:]
            for reason in ["authentication_failed", "replayed", "too_old", "seal_failed", "crypto_failure"] {
                #expect(mobileNodeDrops[reason] == nil, "MN drops: \(mobileNodeDrops)")
            }
        }
    }

    @Test(
        "every ciphersuite carries ping and a TCP stream, with crypto-threads 1 and 2",
        arguments: Ciphersuite.allCases, [1, 2])
    func everySuite(suite: Ciphersuite, cryptoThreads: Int) throws {
        try withLab { topology in
            let deployment = try TernDeployment(
                topology: topology, associations: [TestSecurityAssociation(spi: 0x0ABCDEF, suite: suite)],
                cryptoThreads: cryptoThreads)
            try deployment.startEchoServers()
            let ping = try deployment.ping(Topology.cn6)
            #expect(ping.contains(" 0% packet loss"), "\(suite.name): \(ping)")
            let stream = try deployment.transfer(suite == .tripleDESEDECBCSHA ? 200_000 : 1_000_000, to: Topology.cn4)
            #expect(stream.hasPrefix("OK"), "\(suite.name): \(stream)")
        }
    }

    @Test("SA scope 0: user data crosses as PType 0 in the clear, and still arrives")
    func scopeZero() throws {
        try withLab(attacker: true) { topology in
            let lab = topology.lab
            let deployment = try TernDeployment(
                topology: topology, associations: [TestSecurityAssociation(spi: 77, scope: 0)])
            guard let attacker = topology.attacker else { return }
            // Watch the underlay from the bridge while the MN pings.
            let capture = lab.directory.appendingPathComponent("scope0.hex").path
            let sniffer = try lab.start(
                "sniff", ["python3", attackScript, "sniff", topology.bridgeInterface, "7872", "4", capture],
                in: topology.underlay)
            try lab.wait("the sniffer to listen", timeout: 10) { lab.log("sniff").contains("sniffing") }
            let ping = try deployment.ping(Topology.cn4, count: 4)
            #expect(ping.contains(" 0% packet loss"), "\(ping)")
            try lab.wait("the capture", timeout: 20) { !sniffer.isRunning }
            let payloads = try String(contentsOfFile: capture, encoding: .utf8).split(separator: "\n")
            #expect(!payloads.isEmpty)
            // PType 0: the first octet is 0 and the next seven too (SPI 0, Sequence Number 0).
            #expect(payloads.allSatisfy { $0.hasPrefix("0000000000000000") }, "\(payloads.map { $0.prefix(16) })")
            _ = attacker
        }
    }

    @Test("two Mobile Nodes on one Home Agent at once")
    func twoMobileNodes() throws {
        try withLab(mobileNodes: 2) { topology in
            let deployment = try TernDeployment(
                topology: topology,
                associations: [TestSecurityAssociation(spi: 100), TestSecurityAssociation(spi: 200, suite: .chacha20Poly1305SHA256)])
            try deployment.startEchoServers()
            for index in 0..<2 {
                let ping = try deployment.ping(Topology.cn4, from: index)
                #expect(ping.contains(" 0% packet loss"), "mn\(index): \(ping)")
                let stream = try deployment.transfer(500_000, to: Topology.cn6, from: index)
                #expect(stream.hasPrefix("OK"), "mn\(index): \(stream)")
            }
            let status = try deployment.homeAgentStatus()
            let bindings = status["bindings"] as? [[String: Any]] ?? []
            #expect(bindings.count == 2)
            // `tern status` over the control socket: the same report, for programs and for people.
            let binary = try ternBinary()
            let socket = topology.lab.directory.appendingPathComponent("ha.sock").path
            let json = try topology.lab.run([binary, "status", "--json", "--socket", socket])
            let live = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] ?? [:]
            #expect(live["role"] as? String == "home-agent")
            let names = (live["bindings"] as? [[String: Any]] ?? []).compactMap { $0["mobileNode"] as? String }
            #expect(Set(names) == ["mn0", "mn1"], "\(json)")
            #expect((live["bindings"] as? [[String: Any]] ?? []).allSatisfy { $0["registered"] as? Bool == true })
            let human = try topology.lab.run([binary, "status", "--socket", socket])
            #expect(human.contains("mn0 (SPI 100): registered") && human.contains("mn1 (SPI 200): registered"), "\(human)")
            let mnSocket = topology.lab.directory.appendingPathComponent("mn0.sock").path
            let mnReport = try topology.lab.run([binary, "status", "--socket", mnSocket])
            #expect(mnReport.contains("mobile-node") && mnReport.contains("registered, care-of 198.18.0.10"), "\(mnReport)")
            // A socket nobody answers on is an error, not an empty report.
            #expect(throws: (any Error).self) {
                try topology.lab.run([binary, "status", "--json", "--socket", socket + ".missing"])
            }
            #expect(Set(bindings.compactMap { $0["endpoint"] as? String }) == ["198.18.0.10:\(try sourcePort(topology, 0))", "198.18.0.11:\(try sourcePort(topology, 1))"])
        }
    }

    @Test(
        "forged, replayed and garbage datagrams from a third namespace are dropped and move no binding, with crypto-threads 1 and 2",
        arguments: [1, 2])
    func hostileUnderlay(cryptoThreads: Int) throws {
        try withLab(attacker: true) { topology in
            let lab = topology.lab
            guard let attacker = topology.attacker else { return }
            let deployment = try TernDeployment(
                topology: topology, associations: [TestSecurityAssociation(spi: 4660)], cryptoThreads: cryptoThreads)
            // Capture some of the MN's genuine datagrams on the underlay, for replay.
            let capture = lab.directory.appendingPathComponent("genuine.hex").path
            let sniffer = try lab.start(
                "sniff", ["python3", attackScript, "sniff", topology.bridgeInterface, "7872", "5", capture],
                in: topology.underlay)
            try lab.wait("the sniffer to listen", timeout: 10) { lab.log("sniff").contains("sniffing") }
            try deployment.ping(Topology.cn4, count: 5)
            try lab.wait("the capture", timeout: 20) { !sniffer.isRunning }
            let bindingBefore = try endpoint(deployment)
            let deliveredBefore = try udpDatagramsDelivered(topology)

            try lab.run(["python3", attackScript, "replay", Topology.haUnderlay4, "7872", capture], in: attacker)
            try lab.run(["python3", attackScript, "forge", Topology.haUnderlay4, "7872", "200", "4660"], in: attacker)
            try lab.run(["python3", attackScript, "garbage", Topology.haUnderlay4, "7872", "20000", "4660"], in: attacker, timeout: 60)
            try lab.run(["python3", attackScript, "garbage", Topology.haUnderlay6, "7872", "5000", "4660"], in: attacker, timeout: 60)

            // Still serving, still sending to the MN, and counting what it dropped.
            let ping = try deployment.ping(Topology.cn4, count: 3)
            #expect(ping.contains(" 0% packet loss"), "after the attack: \(ping)")
            // Every datagram the kernel handed to the HA's sockets during the attack must be accounted for:
            // dropped with a reason, or (the genuine ones) received. Datagrams the kernel itself dropped
            // before the socket (a full backlog on the veth) never reach Tern and are not asked for.
            let delivered = try udpDatagramsDelivered(topology) - deliveredBefore
            #expect(delivered >= 10_000, "the flood hardly reached the HA: \(delivered) datagrams")
            func accounted() throws -> Int {
                let status = try deployment.homeAgentStatus()
                let drops = status["drops"] as? [String: Int] ?? [:]
                return drops.values.reduce(0, +) + (status["packetsReceived"] as? Int ?? 0)
                    + (status["keepalivesReceived"] as? Int ?? 0)
            }
            try lab.wait("the status file to account for \(delivered) datagrams", timeout: 10) {
                try accounted() >= delivered
            }
            let status = try deployment.homeAgentStatus()
            let drops = status["drops"] as? [String: Int] ?? [:]
            #expect((drops["replayed"] ?? 0) >= 1, "\(drops)")
            #expect((drops["authentication_failed"] ?? 0) >= 200, "\(drops)")
            #expect(try endpoint(deployment) == bindingBefore, "the binding moved")
            #expect(!lab.log("ha").contains(Topology.attacker4), "the attacker's address appears in the HA log")
            #expect(status["bindingMoves"] as? Int == 1)
        }
    }

    /// Datagrams the kernel delivered to UDP sockets (IPv4 and IPv6) in the Home Agent's namespace so far
    /// (`Udp: InDatagrams` of /proc/net/snmp, `Udp6InDatagrams` of /proc/net/snmp6).
    private func udpDatagramsDelivered(_ topology: Topology) throws -> Int {
        let snmp = try topology.lab.run(["cat", "/proc/net/snmp", "/proc/net/snmp6"], in: topology.homeAgent)
        let lines = snmp.split(separator: "\n")
        var total = 0
        for (index, line) in lines.enumerated() where line.hasPrefix("Udp: ") && index + 1 < lines.count {
            let names = line.split(separator: " ")
            let values = lines[index + 1].split(separator: " ")
            if let column = names.firstIndex(of: "InDatagrams"), column < values.count, let value = Int(values[column]) {
                total += value
                break
            }
        }
        for line in lines where line.hasPrefix("Udp6InDatagrams") {
            total += Int(line.split(separator: " ", omittingEmptySubsequences: true).last ?? "") ?? 0
        }
        return total
    }

    private var attackScript: String { repositoryRoot.appendingPathComponent("scripts/testing/udp_attack.py").path }

    private func endpoint(_ deployment: TernDeployment) throws -> String? {
        let bindings = try deployment.homeAgentStatus()["bindings"] as? [[String: Any]] ?? []
        return bindings.first?["endpoint"] as? String
    }

    /// The UDP port mobile node `index` sends IPv4 from: its IPv4 socket, bound to 0.0.0.0 and an
    /// ephemeral port (the only UDP socket in that namespace).
    private func sourcePort(_ topology: Topology, _ index: Int) throws -> String {
        let output = try topology.lab.run(["ss", "-uanH", "-4"], in: topology.mobileNodes[index])
        for line in output.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 4, fields[3].hasPrefix("0.0.0.0:"), let port = fields[3].split(separator: ":").last {
                return String(port)
            }
        }
        throw LabError("no IPv4 UDP socket in mn\(index): \(output)")
    }
}
