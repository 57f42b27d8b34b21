import Foundation
import TernProtocol
import TernTestSupport

/// The roaming test network: a Mobile Node with two uplinks, one of them behind a NAT.
///
///                 wifi 198.18.1.0/24, fd00:1::/64
///     mn ─┬─────────────────────────────┐
///         │ lte 198.18.2.0/24,          │
///         │     fd00:2::/64             │          198.18.4.0/24, fd00:4::/64
///         └──── nat ── 198.18.3.0/24 ── r (router) ───────────────────────── ha ── cn
///               (masquerade random)     │                                  198.51.100.0/24
///                                       └── atk 198.18.5.0/24, fd00:5::/64   2001:db8:2::/64
///
/// The NAT masquerades IPv4 with random ports (so flushing its mapping changes the Mobile Node's outer
/// port) and routes IPv6 unchanged. Home Addresses and the correspondent are documentation prefixes.
/// Nothing here knows Tern is involved: the tests move the MN by changing links and routes only.
struct RoamingTopology {
    let lab: NetworkLab
    let mobileNode: String
    let nat: String
    let router: String
    let homeAgent: String
    let correspondent: String
    let attacker: String

    /// The MN's interfaces.
    let wifi: String
    let lte: String
    /// The router's interface toward the HA, where a sniffer sees what reaches the HA.
    let routerToHomeAgent: String

    static let haUnderlay4 = "198.18.4.2"
    static let haUnderlay6 = "fd00:4::2"
    static let wifi4 = "198.18.1.2"
    static let wifi6 = "fd00:1::2"
    static let wifiGateway4 = "198.18.1.1"
    static let wifiGateway6 = "fd00:1::1"
    static let lte4 = "198.18.2.2"
    static let lte6 = "fd00:2::2"
    static let lteGateway4 = "198.18.2.1"
    static let lteGateway6 = "fd00:2::1"
    static let natOutside4 = "198.18.3.2"
    static let attacker4 = "198.18.5.2"
    static let cn4 = "198.51.100.2"
    static let cn6 = "2001:db8:2::2"
    static let homeAddress4 = "192.0.2.10"
    static let homeAddress6 = "2001:db8:1::10"

    init(lab: NetworkLab) throws {
        self.lab = lab
        mobileNode = try lab.namespace("mn")
        nat = try lab.namespace("nat")
        router = try lab.namespace("r")
        homeAgent = try lab.namespace("ha")
        correspondent = try lab.namespace("cn")
        attacker = try lab.namespace("atk")
        for namespace in [mobileNode, nat, router, homeAgent, correspondent, attacker] {
            try lab.run(["sysctl", "-q", "-w", "net.ipv6.conf.default.accept_dad=0"], in: namespace)
            try lab.run(["sysctl", "-q", "-w", "net.ipv6.conf.all.accept_dad=0"], in: namespace)
        }
        // A laptop's static addresses survive its link going down (as NetworkManager re-adds them); the
        // kernel's default flushes IPv6 ones on link down.
        try lab.run(["sysctl", "-q", "-w", "net.ipv6.conf.default.keep_addr_on_down=1"], in: mobileNode)
        try lab.run(["sysctl", "-q", "-w", "net.ipv6.conf.all.keep_addr_on_down=1"], in: mobileNode)
        for namespace in [nat, router, homeAgent] {
            try lab.run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"], in: namespace)
            try lab.run(["sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1"], in: namespace)
        }
        let id = lab.id
        wifi = "\(id)w"
        lte = "\(id)l"
        routerToHomeAgent = "\(id)rh"
        // wifi: MN ↔ router, no NAT.
        try link(mobileNode, wifi, Self.wifi4 + "/24", Self.wifi6 + "/64", router, "\(id)rw", "198.18.1.1/24", "fd00:1::1/64")
        // lte: MN ↔ NAT ↔ router.
        try link(mobileNode, lte, Self.lte4 + "/24", Self.lte6 + "/64", nat, "\(id)nl", "198.18.2.1/24", "fd00:2::1/64")
        try link(nat, "\(id)no", Self.natOutside4 + "/24", "fd00:3::2/64", router, "\(id)rn", "198.18.3.1/24", "fd00:3::1/64")
        try lab.run(["ip", "-n", nat, "route", "add", "default", "via", "198.18.3.1"])
        try lab.run(["ip", "-n", nat, "-6", "route", "add", "default", "via", "fd00:3::1"])
        try lab.run(["ip", "-n", router, "-6", "route", "add", "fd00:2::/64", "via", "fd00:3::2"])
        let rules = """
            table ip tern_nat {
                chain postrouting {
                    type nat hook postrouting priority srcnat; policy accept;
                    oifname "\(id)no" masquerade random
                }
            }
            """
        let rulesFile = try lab.write("nat.nft", rules + "\n", mode: 0o644)
        try lab.run(["nft", "-f", rulesFile], in: nat)
        // Home Agent and correspondent.
        try link(router, routerToHomeAgent, "198.18.4.1/24", "fd00:4::1/64", homeAgent, "\(id)hr", Self.haUnderlay4 + "/24", Self.haUnderlay6 + "/64")
        try lab.run(["ip", "-n", homeAgent, "route", "add", "default", "via", "198.18.4.1"])
        try lab.run(["ip", "-n", homeAgent, "-6", "route", "add", "default", "via", "fd00:4::1"])
        try link(homeAgent, "\(id)hc", "198.51.100.1/24", "2001:db8:2::1/64", correspondent, "\(id)ch", Self.cn4 + "/24", Self.cn6 + "/64")
        try lab.run(["ip", "-n", correspondent, "route", "add", "default", "via", "198.51.100.1"])
        try lab.run(["ip", "-n", correspondent, "-6", "route", "add", "default", "via", "2001:db8:2::1"])
        // The attacker hangs off the router, as any host on the Internet would.
        try link(attacker, "\(id)a", Self.attacker4 + "/24", "fd00:5::2/64", router, "\(id)ra", "198.18.5.1/24", "fd00:5::1/64")
        try lab.run(["ip", "-n", attacker, "route", "add", "default", "via", "198.18.5.1"])
        try lab.run(["ip", "-n", attacker, "-6", "route", "add", "default", "via", "fd00:5::1"])
        // The MN starts on wifi, both families; lte is down.
        try lab.run(["ip", "-n", mobileNode, "link", "set", lte, "down"])
        try lab.run(["ip", "-n", mobileNode, "route", "add", "default", "via", Self.wifiGateway4])
        try lab.run(["ip", "-n", mobileNode, "-6", "route", "add", "default", "via", Self.wifiGateway6])
    }

    /// A veth pair between two namespaces, each end with its addresses, both up.
    private func link(
        _ left: String, _ leftName: String, _ left4: String, _ left6: String,
        _ right: String, _ rightName: String, _ right4: String, _ right6: String
    ) throws {
        try lab.run(["ip", "link", "add", leftName, "netns", left, "type", "veth", "peer", "name", rightName, "netns", right])
        for (namespace, name, v4, v6) in [(left, leftName, left4, left6), (right, rightName, right4, right6)] {
            try lab.run(["ip", "-n", namespace, "addr", "add", v4, "dev", name])
            try lab.run(["ip", "-n", namespace, "-6", "addr", "add", v6, "dev", name, "nodad"])
            try lab.run(["ip", "-n", namespace, "link", "set", name, "up"])
        }
    }

    /// Runs `ip` commands in the Mobile Node's namespace, in order (one process each).
    func mobileNodeIP(_ commands: [[String]]) throws {
        for command in commands { try lab.run(["ip"] + command, in: mobileNode) }
    }

    /// Brings `interface` up and points both default routes through it.
    func useUplink(_ interface: String) throws {
        let (gateway4, gateway6) =
            interface == lte ? (Self.lteGateway4, Self.lteGateway6) : (Self.wifiGateway4, Self.wifiGateway6)
        try mobileNodeIP([
            ["link", "set", interface, "up"],
            ["route", "replace", "default", "via", gateway4, "dev", interface],
        ])
        // IPv6 puts the link's prefix route back a moment after the link comes up (addrconf runs from a
        // work queue); until then a route via the gateway is "No route to host". Retry, bounded.
        let command = ["ip", "-6", "route", "replace", "default", "via", gateway6, "dev", interface]
        let deadline = Date().addingTimeInterval(3)
        while true {
            let result = try lab.execute(command, in: mobileNode)
            if result.status == 0 { return }
            if Date() >= deadline { throw LabError("\(command.joined(separator: " ")): \(result.output)") }
            usleep(20_000)
        }
    }

    func linkDown(_ interface: String) throws { try mobileNodeIP([["link", "set", interface, "down"]]) }
}

/// Tern running on the roaming topology: an HA that knows one MN, and the MN with both HA addresses.
struct RoamingDeployment {
    let topology: RoamingTopology
    let haStatus: String
    let mnStatus: String
    private(set) var mobileNodeProcess: Process
    let homeAgentProcess: Process
    /// How the MN is started: the binary, its config, and what runs it (e.g. ``PrivateResolver/wrapper``).
    private let mobileNodeCommand: [String]
    static let spi: UInt32 = 0x5EED
    /// The MN's `tunnel.routes` unless a test gives its own tunnel lines.
    static let defaultTunnelLines = "  routes: [\"198.51.100.0/24\", \"2001:db8:2::/64\"]"

    /// - Parameters:
    ///   - bindingLifetime: what the MN asks for (short in the suspend test).
    ///   - homeAgentLines: extra top-level YAML for the HA's config (e.g. a `gateway:` section).
    ///   - tunnelLines: the MN's `tunnel:` fields besides the home addresses (indented two spaces).
    ///   - mobileNodeWrapper: a command prefix the MN runs under (inside its namespace).
    init(
        topology: RoamingTopology, bindingLifetime: Int = 600, homeAgentLines: String = "",
        tunnelLines: String = RoamingDeployment.defaultTunnelLines, mobileNodeWrapper: [String] = []
    ) throws {
        self.topology = topology
        let lab = topology.lab
        let binary = try ternBinary()
        haStatus = lab.directory.appendingPathComponent("ha-status.json").path
        mnStatus = lab.directory.appendingPathComponent("mn-status.json").path
        let keys = try TestSecurityAssociation(spi: Self.spi).writeKeys(lab, name: "mn")
        let haConfig = try lab.write(
            "ha.yaml",
            """
            tunnel:
              addresses: ["192.0.2.1/24", "2001:db8:1::1/64"]
            status-file: \(haStatus)
            control-socket: \(lab.directory.appendingPathComponent("ha.sock").path)
            mobile-nodes:
              - name: laptop
                spi: \(Self.spi)
                keys: \(keys)
                home-addresses: ["\(RoamingTopology.homeAddress4)", "\(RoamingTopology.homeAddress6)"]
            \(homeAgentLines)
            """)
        let ha = try lab.start("ha", [binary, "ha", "--config", haConfig, "--log-level", "debug"], in: topology.homeAgent)
        try lab.wait("the home agent to come up", timeout: 15) {
            if !ha.isRunning { throw LabError("tern ha exited: \(lab.log("ha"))") }
            return lab.log("ha").contains("home agent up")
        }
        homeAgentProcess = ha
        let mnConfig = try lab.write(
            "mn.yaml",
            """
            home-agent:
              addresses: ["\(RoamingTopology.haUnderlay4)", "\(RoamingTopology.haUnderlay6)"]
            tunnel:
              home-addresses: ["\(RoamingTopology.homeAddress4)", "\(RoamingTopology.homeAddress6)"]
            \(tunnelLines)
            security-association:
              spi: \(Self.spi)
              keys: \(keys)
            binding:
              lifetime: \(bindingLifetime)
            status-file: \(mnStatus)
            control-socket: \(lab.directory.appendingPathComponent("mn.sock").path)
            """)
        mobileNodeCommand = mobileNodeWrapper + [binary, "mn", "--config", mnConfig, "--log-level", "debug"]
        mobileNodeProcess = try lab.start("mn", mobileNodeCommand, in: topology.mobileNode)
        try lab.wait("the mobile node to register", timeout: 15) { [mobileNodeProcess] in
            if !mobileNodeProcess.isRunning { throw LabError("tern mn exited: \(lab.log("mn"))") }
            // "mobile node up" comes after the privilege drop; the registration may come before it.
            return lab.log("mn").contains("registered: lifetime") && lab.log("mn").contains("mobile node up")
        }
    }

    /// Starts the MN again, with the same config, logging to `log`, once the previous one has exited;
    /// waits until it is up (not registered: with manual keying a restarted MN starts its sequence numbers
    /// again, below the HA's replay window).
    mutating func restartMobileNode(log: String) throws {
        let lab = topology.lab
        if mobileNodeProcess.isRunning { throw LabError("the mobile node is still running") }
        let process = try lab.start(log, mobileNodeCommand, in: topology.mobileNode)
        mobileNodeProcess = process
        try lab.wait("the restarted mobile node to come up", timeout: 15) {
            if !process.isRunning { throw LabError("tern mn exited: \(lab.log(log))") }
            return lab.log(log).contains("mobile node up")
        }
    }

    /// A daemon's status file, parsed (waiting, bounded, for its first write).
    func status(_ path: String) throws -> [String: Any] {
        try topology.lab.wait("\(path)", timeout: 5) { FileManager.default.fileExists(atPath: path) }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw LabError("\(path) is not a JSON object")
        }
        return object
    }

    /// The HA's one binding row.
    func binding() throws -> [String: Any] {
        guard let row = (try status(haStatus)["bindings"] as? [[String: Any]])?.first else {
            throw LabError("no binding in the HA status")
        }
        return row
    }

    /// The MN's handover records.
    func handovers() throws -> [[String: Any]] {
        let registration = try status(mnStatus)["registration"] as? [String: Any]
        return registration?["handovers"] as? [[String: Any]] ?? []
    }

    /// Starts the correspondent's checksummed echo servers.
    func startEchoServers() throws {
        let lab = topology.lab
        for (name, address) in [("echo4", RoamingTopology.cn4), ("echo6", RoamingTopology.cn6)] {
            try lab.start(name, ["python3", streamScript, "serve", address, "5001"], in: topology.correspondent)
            try lab.wait("the \(name) server", timeout: 10) { lab.log(name).contains("listening") }
        }
    }

    /// Starts, in the background, a checksummed TCP transfer of `bytes` at `rate` octets a second from
    /// the Home Address to the correspondent and a 100-a-second ping; returns both processes.
    func startTraffic(bytes: Int, rate: Int, pings: Int, target: String = RoamingTopology.cn4) throws -> (
        transfer: Process, ping: Process
    ) {
        let lab = topology.lab
        let transfer = try lab.start(
            "transfer", ["python3", streamScript, "send", target, "5001", "\(bytes)", "\(rate)"], in: topology.mobileNode)
        let ping = try lab.start(
            "ping", ["ping", "-c", "\(pings)", "-i", "0.01", "-W", "1", "-w", "\(pings / 100 + 20)", target],
            in: topology.mobileNode)
        return (transfer, ping)
    }

    /// Waits for both to finish; returns the transfer's verdict line and ping's loss figure.
    func finish(_ traffic: (transfer: Process, ping: Process), timeout: Double = 60) throws -> (
        transfer: String, transmitted: Int, received: Int
    ) {
        let lab = topology.lab
        try lab.wait("the transfer and the ping to finish", timeout: timeout) {
            !traffic.transfer.isRunning && !traffic.ping.isRunning
        }
        let pingLog = lab.log("ping")
        var transmitted = 0
        var received = 0
        for line in pingLog.split(separator: "\n") where line.contains("packets transmitted") {
            let numbers = line.split(separator: " ").compactMap { Int($0) }
            if numbers.count >= 2 { (transmitted, received) = (numbers[0], numbers[1]) }
        }
        return (lab.log("transfer").trimmingCharacters(in: .whitespacesAndNewlines), transmitted, received)
    }

    private var streamScript: String { repositoryRoot.appendingPathComponent("scripts/testing/stream_check.py").path }
}
