import Foundation
import TernPrivileges
import Testing

/// Least privilege (docs/privileges.md), end to end: once `tern ha` and `tern mn` are up, every thread of
/// each shows exactly the documented capability sets in /proc, and what they still do after the drop
/// (carry traffic, follow a move through rtnetlink) still works.
@Suite("Privileges dropped in network namespaces", .serialized)
struct PrivilegeTests {
    /// What each thread of `pid` shows in /proc/PID/task/TID/status.
    private func threadCredentials(_ pid: Int32) throws -> [Int: ProcessCredentials] {
        let directory = "/proc/\(pid)/task"
        var result: [Int: ProcessCredentials] = [:]
        for tid in try FileManager.default.contentsOfDirectory(atPath: directory) {
            guard let number = Int(tid),
                let text = try? String(contentsOfFile: "\(directory)/\(tid)/status", encoding: .utf8)
            else { continue }
            guard let credentials = ProcessCredentials(status: text) else {
                throw LabError("cannot parse \(directory)/\(tid)/status")
            }
            result[number] = credentials
        }
        return result
    }

    /// Checks that `process` is the `tern` binary (ip netns exec execs it in place) and that every thread
    /// shows the credentials of a drop to `documented` as `uid`.
    private func expectDropped(_ process: Process, to documented: String, uid: UInt32 = 0, _ who: String) throws {
        let pid = process.processIdentifier
        let name = try String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)
        #expect(name.hasPrefix("tern"), "pid \(pid) is \(name), not tern")
        let retained = try #require(CapabilitySet(parsing: documented))
        let expected = ProcessCredentials.afterDrop(retaining: retained, uid: uid)
        let threads = try threadCredentials(pid)
        // The data-plane threads and the Swift pool run beside the main thread: each keeps its own set.
        #expect(threads.count >= 3, "\(who): only \(threads.count) thread(s)")
        for (tid, credentials) in threads.sorted(by: { $0.key < $1.key }) {
            #expect(credentials == expected, "\(who) thread \(tid): \(credentials), expected \(expected)")
        }
        let main = try #require(threads[Int(pid)])
        #expect(main.bounding.rawValue == retained.rawValue && main.noNewPrivileges, "\(who): \(main)")
    }

    @Test("HA and MN keep exactly CAP_NET_ADMIN on every thread, no_new_privs; the tunnel still carries a ping")
    func dropped() throws {
        try NetworkLab.run(printingLogsOf: ["ha", "mn0"]) { lab in
            let topology = try Topology(lab: lab)
            let deployment = try TernDeployment(topology: topology, associations: [TestSecurityAssociation(spi: 4660)])
            let ha = try #require(deployment.homeAgentProcess)
            let mn = try #require(deployment.mobileNodeProcesses.first)
            try expectDropped(ha, to: PrivilegePolicy.homeAgent, "ha")
            try expectDropped(mn, to: PrivilegePolicy.mobileNode, "mn")
            #expect(PrivilegePolicy.homeAgent == "CAP_NET_ADMIN" && PrivilegePolicy.mobileNode == "CAP_NET_ADMIN")
            #expect(lab.log("ha").contains("privileges dropped: running as uid 0 with CAP_NET_ADMIN"))
            for target in [Topology.cn4, Topology.cn6] {
                let ping = try deployment.ping(target)
                #expect(ping.contains(" 0% packet loss"), "ping \(target): \(ping)")
            }
            // Threads started later (the Swift pool grows on demand) inherit the reduced sets.
            try expectDropped(ha, to: PrivilegePolicy.homeAgent, "ha after traffic")
            try expectDropped(mn, to: PrivilegePolicy.mobileNode, "mn after traffic")
        }
    }

    @Test("after the drop the MN still follows a move: the IPv4 default route goes, it re-registers over IPv6")
    func moveAfterDrop() throws {
        try NetworkLab.run(printingLogsOf: ["ha", "mn"]) { lab in
            let topology = try RoamingTopology(lab: lab)
            let deployment = try RoamingDeployment(topology: topology)
            try expectDropped(deployment.mobileNodeProcess, to: PrivilegePolicy.mobileNode, "mn")
            try topology.mobileNodeIP([["route", "del", "default"]])
            try lab.wait("the binding to move to IPv6", timeout: 10) {
                let binding = try deployment.binding()
                return binding["careOfAddress"] as? String == RoamingTopology.wifi6
            }
            try topology.mobileNodeIP([["route", "add", "default", "via", RoamingTopology.wifiGateway4]])
            try lab.wait("the binding to move back to IPv4", timeout: 10) {
                try deployment.binding()["careOfAddress"] as? String == RoamingTopology.wifi4
            }
            let ping = try lab.run(
                ["ping", "-c", "3", "-i", "0.2", "-W", "2", "-w", "8", RoamingTopology.cn4], in: topology.mobileNode,
                timeout: 15)
            #expect(ping.contains(" 0% packet loss"), "\(ping)")
            try expectDropped(deployment.mobileNodeProcess, to: PrivilegePolicy.mobileNode, "mn after the moves")
        }
    }
}
