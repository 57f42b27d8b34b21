import Foundation
import TernProtocol
import TernTestSupport

/// The test network:
///
///     mn0 ─┐                                 ┌─ cn   (198.51.100.2, 2001:db8:2::2)
///     mn1 ─┼── ul (bridge) ── ha ──(veth)────┘
///     atk ─┘   198.18.0.0/24, fd00:198:18::/64   198.51.100.0/24, 2001:db8:2::/64
///
/// Underlay addresses come from 198.18.0.0/15 and a ULA prefix; tunnel-inside addresses are documentation
/// ranges: Home Addresses 192.0.2.(10+i) and 2001:db8:1::(10+i), the HA's tunnel side 192.0.2.1/24 and
/// 2001:db8:1::1/64. The HA forwards between its TUN device and the correspondent.
struct Topology {
    let lab: NetworkLab
    let underlay: String
    let homeAgent: String
    let correspondent: String
    let mobileNodes: [String]
    let attacker: String?

    static let haUnderlay4 = "198.18.0.1"
    static let haUnderlay6 = "fd00:198:18::1"
    static let cn4 = "198.51.100.2"
    static let cn6 = "2001:db8:2::2"
    static func mnUnderlay4(_ i: Int) -> String { "198.18.0.\(10 + i)" }
    static func mnUnderlay6(_ i: Int) -> String { "fd00:198:18::\(10 + i)" }
    static func homeAddress4(_ i: Int) -> String { "192.0.2.\(10 + i)" }
    static func homeAddress6(_ i: Int) -> String { "2001:db8:1::\(10 + i)" }
    static let attacker4 = "198.18.0.99"
    static let attacker6 = "fd00:198:18::99"
    static let bridge = "br0"

    init(lab: NetworkLab, mobileNodes count: Int = 1, attacker withAttacker: Bool = false) throws {
        self.lab = lab
        underlay = try lab.namespace("ul")
        homeAgent = try lab.namespace("ha")
        correspondent = try lab.namespace("cn")
        mobileNodes = try (0..<count).map { try lab.namespace("mn\($0)") }
        attacker = withAttacker ? try lab.namespace("atk") : nil
        // No duplicate address detection on any interface made from now on (veths, TUN): link-local
        // addresses would otherwise stay tentative for a second and hold up neighbour discovery.
        for namespace in [underlay, homeAgent, correspondent] + mobileNodes + (attacker.map { [$0] } ?? []) {
            try lab.run(["sysctl", "-q", "-w", "net.ipv6.conf.default.accept_dad=0"], in: namespace)
            try lab.run(["sysctl", "-q", "-w", "net.ipv6.conf.all.accept_dad=0"], in: namespace)
        }

        try lab.run(["ip", "-n", underlay, "link", "add", Self.bridge, "type", "bridge"])
        try lab.run(["ip", "-n", underlay, "link", "set", Self.bridge, "up"])
        try attach(homeAgent, tag: "h", v4: Self.haUnderlay4, v6: Self.haUnderlay6)
        for (index, node) in mobileNodes.enumerated() {
            try attach(node, tag: "m\(index)", v4: Self.mnUnderlay4(index), v6: Self.mnUnderlay6(index))
        }
        if let attacker { try attach(attacker, tag: "a", v4: Self.attacker4, v6: Self.attacker6) }

        // HA ↔ correspondent.
        let haSide = "\(lab.id)hc"
        let cnSide = "\(lab.id)ch"
        try lab.run(["ip", "link", "add", haSide, "netns", homeAgent, "type", "veth", "peer", "name", cnSide, "netns", correspondent])
        try configure(homeAgent, interface: haSide, v4: "198.51.100.1/24", v6: "2001:db8:2::1/64")
        try configure(correspondent, interface: cnSide, v4: "198.51.100.2/24", v6: "2001:db8:2::2/64")
        try lab.run(["ip", "-n", correspondent, "route", "add", "default", "via", "198.51.100.1"])
        try lab.run(["ip", "-n", correspondent, "-6", "route", "add", "default", "via", "2001:db8:2::1"])
        try lab.run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"], in: homeAgent)
        try lab.run(["sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1"], in: homeAgent)
    }

    /// Joins `namespace` to the underlay bridge with a veth pair and gives it its addresses.
    private func attach(_ namespace: String, tag: String, v4: String, v6: String) throws {
        let inside = "\(lab.id)\(tag)"
        let outside = "\(lab.id)\(tag)u"
        try lab.run(["ip", "link", "add", inside, "netns", namespace, "type", "veth", "peer", "name", outside, "netns", underlay])
        try lab.run(["ip", "-n", underlay, "link", "set", outside, "master", Self.bridge, "up"])
        try configure(namespace, interface: inside, v4: "\(v4)/24", v6: "\(v6)/64")
    }

    private func configure(_ namespace: String, interface: String, v4: String, v6: String) throws {
        try lab.run(["ip", "-n", namespace, "addr", "add", v4, "dev", interface])
        try lab.run(["ip", "-n", namespace, "-6", "addr", "add", v6, "dev", interface, "nodad"])
        try lab.run(["ip", "-n", namespace, "link", "set", interface, "up"])
    }

    /// The bridge port facing the HA (in the underlay namespace), where a sniffer sees every frame
    /// to the HA; the bridge device itself only sees frames addressed to it.
    var bridgeInterface: String { "\(lab.id)hu" }
}

/// One Mobile Node's keys and SA parameters as the tests configure them.
struct TestSecurityAssociation {
    var spi: UInt32
    var suite: Ciphersuite = .default
    var scope: Int = 1

    /// Writes a root-only key file with fresh random keys of the suite's lengths; returns its path.
    func writeKeys(_ lab: NetworkLab, name: String) throws -> String {
        func key(_ length: Int) -> String {
            var generator = SystemRandomNumberGenerator()
            return (0..<length).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        }
        var lines: [String] = []
        if suite.encryptionKeyLength > 0 {
            lines.append("mn-to-ha-ekey: \(key(suite.encryptionKeyLength))")
            lines.append("ha-to-mn-ekey: \(key(suite.encryptionKeyLength))")
        }
        if suite.integrityKeyLength > 0 {
            lines.append("mn-to-ha-ikey: \(key(suite.integrityKeyLength))")
            lines.append("ha-to-mn-ikey: \(key(suite.integrityKeyLength))")
        }
        return try lab.write("\(name).keys.yaml", lines.joined(separator: "\n") + "\n")
    }
}

/// Starts the daemons of a topology with the given SAs and waits until each is up.
struct TernDeployment {
    let topology: Topology
    private(set) var associations: [TestSecurityAssociation]
    let outerIPv6: Bool
    let haStatus: String
    /// The HA's configuration file (tests that reload rewrite it with ``writeHomeAgentConfig(nodes:extra:)``).
    let haConfig: String
    private(set) var keyFiles: [String] = []
    /// `tunnel.offloads` of every daemon (TUN and UDP segmentation offloads).
    let offloads: Bool
    /// `tunnel.crypto-threads` of every daemon; 1 (the default) leaves the field out.
    let cryptoThreads: Int
    /// More top-level config lines for the HA and for each MN (by index), and more command-line
    /// arguments for every daemon (e.g. `--log-level trace`).
    let haExtra: String
    let mnExtra: [String]
    let arguments: [String]
    private(set) var homeAgentProcess: Process?
    private(set) var mobileNodeProcesses: [Process] = []

    init(
        topology: Topology, associations: [TestSecurityAssociation], outerIPv6: Bool = false, offloads: Bool = true,
        cryptoThreads: Int = 1, haExtra: String = "", mnExtra: [String] = [], arguments: [String] = []
    ) throws {
        self.topology = topology
        self.associations = []
        self.outerIPv6 = outerIPv6
        self.offloads = offloads
        self.cryptoThreads = cryptoThreads
        self.haExtra = haExtra
        self.mnExtra = mnExtra
        self.arguments = arguments
        let lab = topology.lab
        haStatus = lab.directory.appendingPathComponent("ha-status.json").path
        haConfig = lab.directory.appendingPathComponent("ha.yaml").path
        for sa in associations { try addAssociation(sa) }
        try writeHomeAgentConfig(nodes: Array(associations.indices))
        let binary = try ternBinary()
        homeAgentProcess = try lab.start("ha", [binary, "ha", "--config", haConfig] + arguments, in: topology.homeAgent)
        try lab.wait("the home agent to come up (log: \(lab.logFile("ha").path))", timeout: 15) {
            if let process = homeAgentProcess, !process.isRunning {
                throw LabError("tern ha exited: \(lab.log("ha"))")
            }
            return lab.log("ha").contains("home agent up")
        }
        for index in associations.indices { try startMobileNode(index) }
    }

    /// Stops Mobile Node `index` (SIGTERM, or SIGKILL with `crash`); returns its exit status.
    @discardableResult
    mutating func stopMobileNode(_ index: Int, crash: Bool = false) -> Int32 {
        guard mobileNodeProcesses.indices.contains(index) else { return -1 }
        let process = mobileNodeProcesses.remove(at: index)
        return crash ? topology.lab.crash(process) : topology.lab.stop(process)
    }

    /// Stops the HA (SIGTERM, or SIGKILL with `crash`) and starts it again from the same configuration,
    /// logging to `name`; returns the old one's exit status.
    mutating func restartHomeAgent(as name: String, crash: Bool = false) throws -> Int32 {
        let lab = topology.lab
        let status = homeAgentProcess.map { crash ? lab.crash($0) : lab.stop($0) } ?? -1
        let process = try lab.start(name, [try ternBinary(), "ha", "--config", haConfig] + arguments, in: topology.homeAgent)
        homeAgentProcess = process
        try lab.wait("the home agent to come up again (log: \(lab.logFile(name).path))", timeout: 15) {
            if !process.isRunning { throw LabError("tern ha exited: \(lab.log(name))") }
            return lab.log(name).contains("home agent up")
        }
        return status
    }

    /// Adds Mobile Node `associations.count` with a fresh key file: in no configuration yet, not started.
    @discardableResult
    mutating func addAssociation(_ sa: TestSecurityAssociation) throws -> Int {
        let index = associations.count
        keyFiles.append(try sa.writeKeys(topology.lab, name: "mn\(index)"))
        associations.append(sa)
        return index
    }

    /// Writes the HA's configuration serving the Mobile Nodes at `nodes`, with `extra` top-level YAML.
    func writeHomeAgentConfig(nodes: [Int], extra: String = "") throws {
        var entries = ""
        for index in nodes {
            let sa = associations[index]
            entries += """
                  - name: mn\(index)
                    spi: \(sa.spi)
                    suite: "\(sa.suite)"
                    scope: \(sa.scope)
                    keys: \(keyFiles[index])
                    home-addresses: ["\(Topology.homeAddress4(index))", "\(Topology.homeAddress6(index))"]

                """
        }
        try topology.lab.write(
            "ha.yaml",
            """
            listen:
              port: 7872
            tunnel:
              name: tern0
              addresses: ["192.0.2.1/24", "2001:db8:1::1/64"]
              offloads: \(offloads)
            \(cryptoThreadsLine)
            status-file: \(haStatus)
            control-socket: \(topology.lab.directory.appendingPathComponent("ha.sock").path)
            state-directory: \(topology.lab.directory.appendingPathComponent("state-ha").path)
            \(haExtra)
            \(extra)
            mobile-nodes:
            \(entries)
            """)
    }

    /// The `tunnel:` line for ``cryptoThreads``, indented; empty for the default.
    private var cryptoThreadsLine: String { cryptoThreads == 1 ? "" : "  crypto-threads: \(cryptoThreads)" }

    /// The configuration file of Mobile Node `index`.
    func mobileNodeConfig(_ index: Int) -> String {
        topology.lab.directory.appendingPathComponent("mn\(index).yaml").path
    }

    /// Writes Mobile Node `index`'s configuration (with `extra` top-level YAML), starts it in its
    /// namespace and waits until it has registered.
    mutating func startMobileNode(_ index: Int, extra: String = "") throws {
        let lab = topology.lab
        try writeMobileNodeConfig(index, extra: extra)
        let process = try lab.start("mn\(index)", [try ternBinary(), "mn", "--config", mobileNodeConfig(index)] + arguments,
            in: topology.mobileNodes[index])
        mobileNodeProcesses.append(process)
        try lab.wait("mobile node \(index) to come up", timeout: 15) {
            if !process.isRunning { throw LabError("tern mn exited: \(lab.log("mn\(index)"))") }
            return lab.log("mn\(index)").contains("mobile node up")
        }
        // The MN registers with a Binding Update; data flows once the HA has accepted it.
        try lab.wait("mobile node \(index) to register", timeout: 10) {
            lab.log("mn\(index)").contains("registered: lifetime")
        }
    }

    /// Writes Mobile Node `index`'s configuration, with `extra` top-level YAML.
    func writeMobileNodeConfig(_ index: Int, extra: String = "") throws {
        let sa = associations[index]
        try topology.lab.write(
            "mn\(index).yaml",
            """
            home-agent:
              address: \(outerIPv6 ? Topology.haUnderlay6 : Topology.haUnderlay4)
              port: 7872
            tunnel:
              name: tern0
              home-addresses: ["\(Topology.homeAddress4(index))", "\(Topology.homeAddress6(index))"]
              routes: ["198.51.100.0/24", "2001:db8:2::/64"]
              offloads: \(offloads)
            \(cryptoThreadsLine)
            security-association:
              spi: \(sa.spi)
              suite: "\(sa.suite)"
              scope: \(sa.scope)
              keys: \(keyFiles[index])
            status-file: \(topology.lab.directory.appendingPathComponent("mn\(index)-status.json").path)
            control-socket: \(topology.lab.directory.appendingPathComponent("mn\(index).sock").path)
            state-directory: \(topology.lab.directory.appendingPathComponent("state-mn\(index)").path)
            \(index < mnExtra.count ? mnExtra[index] : "")
            \(extra)
            """)
    }

    /// The HA's status file, parsed.
    func homeAgentStatus() throws -> [String: Any] {
        try topology.lab.wait("the home agent's status file", timeout: 5) { FileManager.default.fileExists(atPath: haStatus) }
        let data = try Data(contentsOf: URL(fileURLWithPath: haStatus))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw LabError("status file is not a JSON object")
        }
        return object
    }

    /// Mobile node `index`'s status file, parsed (waiting, bounded, for its first write).
    func mobileNodeStatus(_ index: Int = 0) throws -> [String: Any] {
        let path = topology.lab.directory.appendingPathComponent("mn\(index)-status.json").path
        try topology.lab.wait("mobile node \(index)'s status file", timeout: 5) { FileManager.default.fileExists(atPath: path) }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw LabError("status file is not a JSON object")
        }
        return object
    }

    /// Pings `target` from mobile node `index` (count packets, bounded) and returns ping's output.
    @discardableResult
    func ping(_ target: String, from index: Int = 0, count: Int = 3) throws -> String {
        try topology.lab.run(
            ["ping", "-c", "\(count)", "-i", "0.2", "-W", "2", "-w", "\(count + 5)", target],
            in: topology.mobileNodes[index], timeout: Double(count + 10))
    }

    /// A checksummed TCP stream of `bytes` octets from mobile node `index` to the correspondent and back.
    func transfer(_ bytes: Int, to target: String, from index: Int = 0) throws -> String {
        try topology.transfer(bytes, to: target, from: index)
    }

    /// Starts the correspondent's echo server on both families.
    func startEchoServers() throws { try topology.startEchoServers() }
}

extension Topology {
    private var streamScript: String { repositoryRoot.appendingPathComponent("scripts/testing/stream_check.py").path }

    /// A checksummed TCP stream of `bytes` octets from mobile node `index` to the correspondent and back.
    func transfer(_ bytes: Int, to target: String, from index: Int = 0) throws -> String {
        try lab.run(["python3", streamScript, "send", target, "5001", "\(bytes)"], in: mobileNodes[index], timeout: 60)
    }

    private var datagramScript: String { repositoryRoot.appendingPathComponent("scripts/testing/datagram_check.py").path }

    /// Checked UDP datagrams from mobile node `index` to the correspondent's UDP echo and back: `groups`
    /// groups of ten of `size` octets and one shorter, each group in one UDP_SEGMENT send if `segmented`.
    func datagrams(groups: Int, size: Int, segmented: Bool, to target: String, from index: Int = 0) throws -> String {
        try lab.run(
            ["python3", datagramScript, "send", target, "5002", "\(groups)", "\(size)", segmented ? "segmented" : "plain"],
            in: mobileNodes[index], timeout: 30)
    }

    /// Starts the correspondent's echo servers (TCP 5001, UDP 5002) on both families.
    func startEchoServers() throws {
        for (name, address) in [("echo4", Topology.cn4), ("echo6", Topology.cn6)] {
            try lab.start(name, ["python3", streamScript, "serve", address, "5001"], in: correspondent)
            try lab.wait("the \(name) server", timeout: 10) { lab.log(name).contains("listening") }
            try lab.start("udp-" + name, ["python3", datagramScript, "serve", address, "5002"], in: correspondent)
            try lab.wait("the UDP \(name) server", timeout: 10) { lab.log("udp-" + name).contains("listening") }
        }
    }
}
