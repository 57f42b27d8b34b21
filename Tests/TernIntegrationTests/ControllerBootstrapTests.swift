import Foundation
import TernTestSupport
import Testing

/// The Home Agent Controller end to end, in namespaces: the Mobile Node starts from nothing but its
/// identity, its PSK and the HAC's CA, bootstraps over TLS from the HAC inside the HA process, registers,
/// and carries IPv4 and IPv6 traffic to the correspondent.
@Suite("HAC bootstrap in network namespaces", .serialized)
struct ControllerBootstrapTests {
    /// A lab with the ordinary topology and a certificate factory, torn down afterwards; on failure the
    /// daemons' and the traffic's logs are printed.
    private func withControllerLab(
        _ body: (NetworkLab, Topology, CertificateFactory) throws -> Void
    ) throws {
        guard requireRoot() else { return }
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        let certificates = try CertificateFactory()
        defer { certificates.remove() }
        do {
            try body(lab, try Topology(lab: lab), certificates)
        } catch {
            lab.printLogs(["ha", "ha2", "mn0", "transfer", "ping"])
            throw error
        }
    }

    @Test("the MN bootstraps (TLS 1.3, PSK), applies the HAC's DNS server, registers, carries both families, survives an HA restart, restores DNS on stop")
    func bootstrap() throws {
        try withControllerLab { lab, topology, certificates in
            // The HAC names a DNS server (hac.dns); the MN applies it through a real openresolv private to
            // the lab (PrivateResolver), over a resolv.conf that no manager wrote.
            let host = PrivateResolver.hostSnapshot()
            let original = "nameserver 198.18.0.53\n"
            let resolver = try PrivateResolver(lab: lab, original: original)
            // The HA's UDP service port is not the default: the MN can only register if the HAC told it
            // this one (HACBootstrap's port comes from listen.port).
            var deployment = try ControllerDeployment(
                topology: topology, certificates: certificates, hacExtra: "  dns: [\"192.0.2.53\"]",
                haExtra: "listen: {port: 7873}", mobileNodeWrapper: resolver.wrapper)
            let binary = deployment.binary
            let authority = deployment.authority
            let database = deployment.database
            #expect(lab.log("mn0").contains("bootstrapped over TLSv1.3"), "\(lab.log("mn0"))")
            // The first lease of each pool: .2 (the HA's own .1 is never leased).
            #expect(lab.log("mn0").contains("home addresses 192.0.2.2, 2001:db8:1::2"), "\(lab.log("mn0"))")
            #expect(lab.log("ha").contains("HAC: laptop@example.test from"), "\(lab.log("ha"))")
            #expect(
                lab.log("mn0").contains("DNS: 192.0.2.53 applied through resolvconf (openresolv) (record tern0.tern, metric 0)"),
                "\(lab.log("mn0"))")
            let applied = try String(contentsOfFile: resolver.resolvConf, encoding: .utf8)
            #expect(applied.contains("nameserver 192.0.2.53\n") && !applied.contains("198.18.0.53"), "\(applied)")

            try topology.startEchoServers()
            for target in [Topology.cn4, Topology.cn6] {
                let ping = try lab.run(
                    ["ping", "-c", "3", "-i", "0.2", "-W", "2", "-w", "8", target], in: topology.mobileNodes[0], timeout: 12)
                #expect(ping.contains(" 0% packet loss"), "ping \(target): \(ping)")
                let stream = try topology.transfer(500_000, to: target)
                #expect(stream.hasPrefix("OK 500000"), "stream to \(target): \(stream)")
            }
            // `openssl s_client` sees the HAC's certificate and TLS 1.3.
            let client = try lab.execute(
                ["openssl", "s_client", "-brief", "-connect", "\(Topology.haUnderlay4):7872", "-CAfile", authority.certificate,
                 "-verify_hostname", "hac.example.test"],
                in: topology.mobileNodes[0], timeout: 10)
            #expect(client.output.contains("Protocol version: TLSv1.3"), "\(client.output)")
            #expect(client.output.contains("Verification: OK"), "\(client.output)")
            // `tern users show` lists the lease and the live SA, and no key.
            let shown = try lab.run([binary, "users", "show", "--database", database, "laptop@example.test"])
            #expect(shown.contains("192.0.2.2") && shown.contains("1 live SA"), "\(shown)")

            // The HA restarts: it restores the SA from the database and resumes its sequence numbers past
            // the persisted reservation, so the MN keeps going without a new TLS exchange (its replay window
            // would refuse reused numbers). The new HA holds no binding: the MN's next packet draws a Binding
            // Error (status 1) and the MN registers again at once.
            #expect(try deployment.restartHomeAgent(as: "ha2") == 0, "tern ha exits 0 on SIGTERM")
            #expect(lab.log("ha2").contains("restored SA"), "\(lab.log("ha2"))")
            #expect(lab.log("ha2").contains("restored 1 binding(s)"), "\(lab.log("ha2"))")
            // The binding came back too: the correspondent reaches the idle MN before it sends anything.
            let inbound = try lab.run(
                ["ping", "-c", "3", "-i", "0.2", "-W", "2", "-w", "8", "192.0.2.2"], in: topology.correspondent, timeout: 12)
            #expect(inbound.contains(" 0% packet loss"), "correspondent → MN after the restart: \(inbound)")
            let first = try lab.execute(
                ["ping", "-c", "10", "-i", "0.2", "-W", "2", "-w", "15", Topology.cn4], in: topology.mobileNodes[0], timeout: 20)
            #expect(first.output.contains(" received,") && !first.output.contains(" 0 received"), "\(first.output)")
            let after = try lab.run(
                ["ping", "-c", "5", "-i", "0.2", "-W", "2", "-w", "10", Topology.cn6], in: topology.mobileNodes[0], timeout: 15)
            #expect(after.contains(" 0% packet loss"), "after the restart: \(after)")
            #expect(lab.log("mn0").components(separatedBy: "bootstrapped over").count == 2, "one TLS exchange only")

            #expect(lab.stop(try #require(deployment.mobileNode)) == 0, "\(lab.log("mn0").suffix(1000))")
            // openresolv puts back the resolv.conf it found (from its backup) once no record is left.
            #expect(try String(contentsOfFile: resolver.resolvConf, encoding: .utf8) == original)
            #expect(PrivateResolver.hostSnapshot() == host, "the machine's own resolver changed")
        }
    }

    @Test(
        "re-key before the validity end under a running transfer: make before break, nothing lost; HAC exchanges counted; no key or PSK in the logs at trace level"
    )
    func rekey() throws {
        try withControllerLab { lab, topology, certificates in
            // The shortest validity the HAC allows: the MN re-contacts it at 80 %, 48 s in. Both daemons log
            // at the most verbose level and export metrics.
            let deployment = try ControllerDeployment(
                topology: topology, certificates: certificates, hacExtra: "  sa-validity: 60", haExtra: "metrics:",
                mnExtra: "metrics:", arguments: ["--log-level", "trace"])
            let haStatus = deployment.haStatus
            let registeredAt = Date()
            // The PSK and the first SA's keys, before anything can remove them from the database.
            var secrets = Secrets()
            try secrets.addControllerDatabase(lab, path: deployment.database)
            try topology.startEchoServers()
            // Traffic from 36 s to about 58 s after the bootstrap: the re-key at 48 s falls inside.
            let start = registeredAt.addingTimeInterval(36)
            if start > Date() { usleep(UInt32(start.timeIntervalSinceNow * 1_000_000)) }
            let script = repositoryRoot.appendingPathComponent("scripts/testing/stream_check.py").path
            let transfer = try lab.start(
                "transfer", ["python3", script, "send", Topology.cn4, "5001", "5000000", "250000"], in: topology.mobileNodes[0])
            let ping = try lab.start(
                "ping", ["ping", "-c", "2000", "-i", "0.01", "-W", "1", "-w", "40", Topology.cn6], in: topology.mobileNodes[0])
            try lab.wait("the MN to re-key", timeout: 30) { lab.log("mn0").contains("re-keyed") }
            try lab.wait("the traffic to finish", timeout: 45) { !transfer.isRunning && !ping.isRunning }
            #expect(lab.log("transfer").hasPrefix("OK 5000000"), "\(lab.log("transfer"))")
            let summary = lab.log("ping").split(separator: "\n").first { $0.contains("packets transmitted") } ?? ""
            #expect(summary.contains(" 0% packet loss"), "ping across the re-key: \(summary)")
            #expect(lab.log("mn0").components(separatedBy: "bootstrapped over").count == 3, "two TLS exchanges")
            // The HA sends under the new SA: its binding is the registered one.
            let spi = try #require(
                lab.log("mn0").components(separatedBy: "re-keyed: sending under SPI ").last?.split(separator: " ").first)
            try lab.wait("the HA to hold a binding under the new SPI", timeout: 5) {
                let data = try Data(contentsOf: URL(fileURLWithPath: haStatus))
                let status = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
                let bindings = status["bindings"] as? [[String: Any]] ?? []
                return bindings.contains { "\($0["spi"] ?? "")" == spi && $0["registered"] as? Bool == true }
            }
            try secrets.addControllerDatabase(lab, path: deployment.database)

            // Both exchanges counted by both ends, by outcome.
            let ha = try Scrape(lab, in: topology.homeAgent, url: "http://127.0.0.1:9587/metrics")
            #expect(ha.value("tern_hac_exchanges_total{role=\"ha\",outcome=\"ok\"}") == 2, "\(ha.body)")
            #expect(ha.value("tern_hac_exchanges_total{role=\"ha\",outcome=\"unauthorized\"}") == 0)
            // The controller's connection counters (issue 13, item 4), also in `tern status`.
            #expect(ha.value("tern_hac_connections_total{role=\"ha\",event=\"provisioned\"}") == 2, "\(ha.body)")
            #expect(ha.value("tern_hac_connections_total{role=\"ha\",event=\"shed\"}") == 0)
            // The new SA, and the replaced one until its validity end (about now: timing decides).
            #expect((1...2).contains(ha.value("tern_security_associations{role=\"ha\"}") ?? 0), "\(ha.body)")
            let mn = try Scrape(lab, in: topology.mobileNodes[0], url: "http://127.0.0.1:9588/metrics")
            #expect(mn.value("tern_hac_exchanges_total{role=\"mn\",kind=\"bootstrap\",outcome=\"ok\"}") == 1, "\(mn.body)")
            #expect(mn.value("tern_hac_exchanges_total{role=\"mn\",kind=\"rekey\",outcome=\"ok\"}") == 1)
            #expect(mn.value("tern_hac_exchanges_total{role=\"mn\",kind=\"rekey\",outcome=\"tls_failure\"}") == 0)
            let expiry = mn.value("tern_security_association_expiry_seconds{role=\"mn\"}") ?? 0
            #expect(expiry > 30 && expiry <= 60, "the new SA's validity end: \(expiry) s")

            // Stopped, so that the last lines (deregistration, final counters) are searched too.
            #expect(lab.stop(try #require(deployment.mobileNode)) == 0)
            #expect(lab.stop(deployment.homeAgent) == 0)
            secrets.add("PSK", literal: try String(contentsOfFile: deployment.psk, encoding: .utf8))
            for line in try String(contentsOfFile: deployment.hacPrivateKey, encoding: .utf8).split(separator: "\n")
            where !line.hasPrefix("-----") {
                secrets.add("HAC private key", literal: String(line))
            }
            let texts = [
                ("ha.log", lab.log("ha")), ("mn0.log", lab.log("mn0")),
                ("HA status", (try? String(contentsOfFile: haStatus, encoding: .utf8)) ?? ""),
                ("MN status", (try? String(contentsOfFile: deployment.mnStatus, encoding: .utf8)) ?? ""),
                ("HA metrics", ha.body), ("MN metrics", mn.body),
            ]
            // The PSK and the keys of both SAs are among what is searched for.
            #expect(secrets.spellings.contains { $0.what.hasPrefix("psk laptop@example.test ") })
            #expect(secrets.spellings.contains { $0.what.hasPrefix("sa \(spi) ") }, "the new SA's keys")
            #expect(secrets.spellings.filter { $0.what.hasPrefix("sa ") }.count >= 2 * 2 * 8, "two SAs, two keys each")
            for (name, text) in texts {
                #expect(!text.isEmpty, "\(name) is empty: the search for keys could not fail")
                #expect(secrets.leaks(in: text).isEmpty, "\(name) holds \(secrets.leaks(in: text))")
            }
            #expect(lab.log("ha").contains(" debug tern.ha") && lab.log("mn0").contains(" debug tern.mn"))
        }
    }

}

/// A Home Agent with its co-located controller and one Mobile Node that bootstraps from it, on the
/// ordinary test topology: certificates from a throwaway CA, the MN's identity added with `tern users`.
/// Each daemon keeps its state directory in the lab.
struct ControllerDeployment {
    let topology: Topology
    let binary: String
    let authority: (certificate: String, key: String)
    let haConfig: String
    let haStatus: String
    let mnStatus: String
    let database: String
    /// The MN's pre-shared key file and the HAC's TLS private key.
    let psk: String
    let hacPrivateKey: String
    let arguments: [String]
    private(set) var homeAgent: Process
    /// nil until ``startMobileNode(as:timeout:)`` (the init starts it unless told not to).
    private(set) var mobileNode: Process?
    let mnConfig: String
    let mobileNodeWrapper: [String]
    /// The HA's control socket (`tern status --socket`).
    var controlSocket: String { topology.lab.directory.appendingPathComponent("ha.sock").path }

    /// - Parameters:
    ///   - hacExtra: more lines for the HA's `hac:` section (indented two spaces).
    ///   - mobileNodeWrapper: a command prefix the MN runs under (inside its namespace).
    ///   - haExtra, mnExtra: more top-level lines for the HA's and the MN's config.
    ///   - arguments: more command-line arguments for both daemons (e.g. `--log-level trace`).
    init(
        topology: Topology, certificates: CertificateFactory, hacExtra: String = "", haExtra: String = "",
        mnExtra: String = "", arguments: [String] = [], mobileNodeWrapper: [String] = [],
        startingMobileNode: Bool = true
    ) throws {
        self.mobileNodeWrapper = mobileNodeWrapper
        self.arguments = arguments
        self.topology = topology
        let lab = topology.lab
        binary = try ternBinary()
        authority = try certificates.certificateAuthority("ca")
        let hac = try certificates.leaf(
            "hac", altNames: "DNS:hac.example.test,IP:\(Topology.haUnderlay4)", issuer: authority)
        database = lab.directory.appendingPathComponent("hac.sqlite").path
        let psk = lab.directory.appendingPathComponent("laptop.psk").path
        self.psk = psk
        hacPrivateKey = hac.key
        mnStatus = lab.directory.appendingPathComponent("mn-status.json").path
        try lab.run([binary, "users", "add", "--database", database, "laptop@example.test", "--psk-file", psk])
        haStatus = lab.directory.appendingPathComponent("ha-status.json").path
        haConfig = try lab.write(
            "ha.yaml",
            """
            tunnel:
              addresses: ["192.0.2.1/24", "2001:db8:1::1/64"]
            status-file: \(haStatus)
            control-socket: \(lab.directory.appendingPathComponent("ha.sock").path)
            state-directory: \(lab.directory.appendingPathComponent("state-ha").path)
            hac:
              listen: ["\(Topology.haUnderlay4)"]
              certificate: \(hac.certificate)
              private-key: \(hac.key)
              database: \(database)
              home-address-pools: ["192.0.2.0/24", "2001:db8:1::/64"]
              home-agent-addresses: ["\(Topology.haUnderlay4)"]
            \(hacExtra)
            \(haExtra)
            """)
        homeAgent = try Self.startHomeAgent(
            lab, binary: binary, config: haConfig, name: "ha", in: topology.homeAgent, arguments: arguments)
        mnConfig = try lab.write(
            "mn.yaml",
            """
            hac:
              address: \(Topology.haUnderlay4)
              server-name: hac.example.test
              identity: laptop@example.test
              psk-file: \(psk)
              ca-file: \(authority.certificate)
            tunnel:
              routes: ["198.51.100.0/24", "2001:db8:2::/64"]
            control-socket: \(lab.directory.appendingPathComponent("mn.sock").path)
            state-directory: \(lab.directory.appendingPathComponent("state-mn").path)
            status-file: \(mnStatus)
            \(mnExtra)
            """)
        if startingMobileNode { try startMobileNode() }
    }

    /// Starts `tern mn` (log `name`) in the first MN namespace and waits until it has registered.
    mutating func startMobileNode(as name: String = "mn0", timeout: Double = 20) throws {
        let lab = topology.lab
        let mn = try lab.start(
            name, mobileNodeWrapper + [binary, "mn", "--config", mnConfig] + arguments, in: topology.mobileNodes[0])
        mobileNode = mn
        try lab.wait("the mobile node to bootstrap and register", timeout: timeout) {
            if !mn.isRunning { throw LabError("tern mn exited: \(lab.log(name))") }
            return lab.log(name).contains("registered: lifetime") && lab.log(name).contains("mobile node up")
        }
    }

    /// Stops the HA (SIGTERM, or SIGKILL with `crash`: no clean stop) and starts it again from the same
    /// config and database (log `name`); `between` runs while it is down.
    mutating func restartHomeAgent(as name: String, crash: Bool = false, between: () throws -> Void = {}) throws -> Int32 {
        let status = crash ? topology.lab.crash(homeAgent) : topology.lab.stop(homeAgent)
        try between()
        homeAgent = try Self.startHomeAgent(
            topology.lab, binary: binary, config: haConfig, name: name, in: topology.homeAgent, arguments: arguments)
        return status
    }

    private static func startHomeAgent(
        _ lab: NetworkLab, binary: String, config: String, name: String, in namespace: String, arguments: [String]
    ) throws -> Process {
        let ha = try lab.start(name, [binary, "ha", "--config", config] + arguments, in: namespace)
        try lab.wait("the home agent and its controller", timeout: 15) {
            if !ha.isRunning { throw LabError("tern ha exited: \(lab.log(name))") }
            return lab.log(name).contains("home agent controller up")
        }
        return ha
    }
}
