import Foundation
import Testing
import TernOS
import TernProtocol
import TernTestSupport

/// What a failed helper command or check said.
private struct NetlinkTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Like `execute`, but a non-zero exit is an error carrying the output.
@discardableResult
private func run(_ arguments: [String], timeout: Double = 10) throws -> String {
    let result = try execute(arguments, timeout: timeout)
    guard result.status == 0 else {
        throw NetlinkTestError("\(arguments.joined(separator: " ")) exited \(result.status): \(result.output)")
    }
    return result.output
}

/// `ip -j ...` output as an array of objects.
private func ipJSON(_ arguments: [String]) throws -> [[String: Any]] {
    let output = try run(["ip", "-j"] + arguments)
    let trimmed = output.trimmingCharacters(in: .whitespacesAndNewlines)
    if trimmed.isEmpty { return [] }
    guard let objects = try JSONSerialization.jsonObject(with: Data(trimmed.utf8)) as? [[String: Any]] else {
        throw NetlinkTestError("ip -j \(arguments.joined(separator: " ")) printed no JSON array: \(output)")
    }
    return objects
}

/// These tests change interfaces (or set socket options reserved to CAP_NET_ADMIN), so they need root.
/// On CI a missing privilege is a failure; elsewhere the test says loudly that it did not run and is
/// reported as cancelled, never as passed.
func requireRootForNetlink(
    _ why: String = "rtnetlink tests need root (uid 0) to create network namespaces and interfaces"
) throws -> Bool {
    if getuid() == 0 { return true }
    let message = "NOT RUN: \(why)"
    if ProcessInfo.processInfo.environment["CI"] != nil {
        Issue.record("\(message); on CI this is a failure")
        return false
    }
    print("⚠️⚠️⚠️  \(message)")
    try Test.cancel(Comment(rawValue: message))
}

/// The interface the kernel tests configure inside their namespace.
private let device = "tern0"

/// A throwaway network namespace with interface `device` (a dummy, or a persistent TUN device where the
/// kernel has no dummy driver), and a RouteNetlink socket inside it. `body` runs between creation and
/// deletion; the namespace is deleted even when it throws.
private func withNamespace(_ body: (_ namespace: String, _ netlink: RouteNetlink) throws -> Void) throws {
    let name = "tern-nl-\(getpid())-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
    try run(["ip", "netns", "add", name])
    defer {
        if let result = try? execute(["ip", "netns", "del", name]), result.status != 0 {
            Issue.record("could not delete network namespace \(name): \(result.output)")
        }
    }
    let dummy = try execute(["ip", "netns", "exec", name, "ip", "link", "add", device, "type", "dummy"])
    if dummy.status != 0 {
        print("note: no dummy interfaces here (\(dummy.output.trimmingCharacters(in: .whitespacesAndNewlines))); using a TUN device")
        try run(["ip", "netns", "exec", name, "ip", "tuntap", "add", "dev", device, "mode", "tun"])
    }
    let netlink = try RouteNetlink(networkNamespace: "/var/run/netns/\(name)")
    try body(name, netlink)
}

/// The calling thread's network namespace, as the kernel names it (`net:[inode]`).
private func currentThreadNetworkNamespace() throws -> String {
    try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self/ns/net")
}

private func prefix(_ text: String) throws -> IPPrefix {
    try #require(IPPrefix(text), "\(text) is a prefix")
}

/// The addresses `ip` lists on `device`, as "address/length" texts, with their `addr_info` entries.
private func addresses(in namespace: String, device: String) throws -> [String: [String: Any]] {
    var found: [String: [String: Any]] = [:]
    for link in try ipJSON(["-n", namespace, "addr", "show", "dev", device]) {
        for info in link["addr_info"] as? [[String: Any]] ?? [] {
            if let local = info["local"] as? String, let length = info["prefixlen"] as? Int {
                found["\(local)/\(length)"] = info
            }
        }
    }
    return found
}

/// The routes `ip` lists for `family` ("-4" or "-6") in `table`, keyed by destination.
private func routes(in namespace: String, family: String, table: String = "main") throws -> [String: [String: Any]] {
    var found: [String: [String: Any]] = [:]
    for route in try ipJSON([family, "-n", namespace, "route", "show", "table", table]) {
        if let destination = route["dst"] as? String { found[destination] = route }
    }
    return found
}

@Suite("RouteNetlink against the kernel (root, throwaway network namespaces)", .serialized)
struct NetlinkTests {
    @Test("link, addresses and routes are configured and removed through rtnetlink only")
    func configureAndRemove() throws {
        guard try requireRootForNetlink() else { return }
        let threadNamespace = try currentThreadNetworkNamespace()
        try withNamespace { namespace, netlink in
            // The socket is in the namespace; this thread is not.
            #expect(try currentThreadNetworkNamespace() == threadNamespace)
            let index = try netlink.linkIndex(named: device)
            let link = try #require(try ipJSON(["-n", namespace, "link", "show", "dev", device]).first)
            #expect(link["ifindex"] as? Int == Int(index))

            try netlink.setLink(index: index, up: true, mtu: 1400)
            let upLink = try #require(try ipJSON(["-n", namespace, "link", "show", "dev", device]).first)
            #expect(upLink["mtu"] as? Int == 1400)
            #expect((upLink["flags"] as? [String] ?? []).contains("UP"))

            let v4 = try prefix("192.0.2.1/24")
            let v6 = try prefix("2001:db8:1::1/64")
            try netlink.addAddress(v4, interfaceIndex: index)
            try netlink.addAddress(v6, interfaceIndex: index)
            try netlink.addAddress(v4, interfaceIndex: index)  // NLM_F_REPLACE: adding again is fine
            var present = try addresses(in: namespace, device: device)
            #expect(present["192.0.2.1/24"]?["family"] as? String == "inet")
            let v6Info = try #require(present["2001:db8:1::1/64"], "IPv6 address present: \(present.keys.sorted())")
            #expect(v6Info["tentative"] == nil, "IFA_F_NODAD: usable at once, not tentative")

            let v4Route = try prefix("198.51.100.0/24")
            let v6Route = try prefix("2001:db8:2::/64")
            let tableRoute = try prefix("203.0.113.0/24")
            try netlink.addRoute(v4Route, interfaceIndex: index)
            try netlink.addRoute(v6Route, interfaceIndex: index)
            try netlink.addRoute(tableRoute, interfaceIndex: index, table: 100, metric: 20)
            let v4Routes = try routes(in: namespace, family: "-4")
            let v4Entry = try #require(v4Routes["198.51.100.0/24"], "IPv4 route present: \(v4Routes.keys.sorted())")
            #expect(v4Entry["dev"] as? String == device)
            #expect(v4Entry["protocol"] as? String == "static")
            #expect(v4Entry["scope"] as? String == "link")
            let v6Routes = try routes(in: namespace, family: "-6")
            let v6Entry = try #require(v6Routes["2001:db8:2::/64"], "IPv6 route present: \(v6Routes.keys.sorted())")
            #expect(v6Entry["dev"] as? String == device)
            #expect(v6Entry["protocol"] as? String == "static")
            let tableEntry = try #require(try routes(in: namespace, family: "-4", table: "100")["203.0.113.0/24"])
            #expect(tableEntry["metric"] as? Int == 20)
            #expect(try routes(in: namespace, family: "-4")["203.0.113.0/24"] == nil, "not in the main table")

            try netlink.deleteRoute(v4Route, interfaceIndex: index)
            try netlink.deleteRoute(v6Route, interfaceIndex: index)
            try netlink.deleteRoute(tableRoute, interfaceIndex: index, table: 100, metric: 20)
            #expect(try routes(in: namespace, family: "-4")["198.51.100.0/24"] == nil)
            #expect(try routes(in: namespace, family: "-6")["2001:db8:2::/64"] == nil)
            #expect(try routes(in: namespace, family: "-4", table: "100").isEmpty)

            try netlink.deleteAddress(v4, interfaceIndex: index)
            try netlink.deleteAddress(v6, interfaceIndex: index)
            present = try addresses(in: namespace, device: device)
            #expect(present["192.0.2.1/24"] == nil)
            #expect(present["2001:db8:1::1/64"] == nil)

            // Cleanup twice: absent things are reported as not found, distinctly.
            for attempt: () throws -> Void in [
                { try netlink.deleteRoute(v4Route, interfaceIndex: index) },
                { try netlink.deleteRoute(v6Route, interfaceIndex: index) },
                { try netlink.deleteAddress(v4, interfaceIndex: index) },
                { try netlink.deleteAddress(v6, interfaceIndex: index) },
            ] {
                do {
                    try attempt()
                    Issue.record("deleting an absent address or route succeeded")
                } catch let error as NetlinkError {
                    #expect(error.isNotFound, "\(error)")
                }
            }

            try netlink.setLink(index: index, up: false, mtu: nil)
            let downLink = try #require(try ipJSON(["-n", namespace, "link", "show", "dev", device]).first)
            #expect(!(downLink["flags"] as? [String] ?? []).contains("UP"))
            #expect(downLink["mtu"] as? Int == 1400, "MTU untouched")
        }
    }

    @Test("kernel refusals name the operation and the errno")
    func refusals() throws {
        guard try requireRootForNetlink() else { return }
        try withNamespace { _, netlink in
            let missingIndex: UInt32 = 999_999
            do {
                try netlink.addAddress(try prefix("192.0.2.9/24"), interfaceIndex: missingIndex)
                Issue.record("adding an address to interface index \(missingIndex) succeeded")
            } catch let error as NetlinkError {
                guard case .kernelRefused(let operation, let code, _) = error else {
                    Issue.record("expected a kernel refusal, got \(error)")
                    return
                }
                #expect(operation == "add address 192.0.2.9/24 to interface index 999999")
                #expect(code == ENODEV)
                #expect(error.description.contains("add address 192.0.2.9/24 to interface index 999999"))
                #expect(error.description.contains(String(cString: strerror(ENODEV))), "\(error)")
            }

            do throws(NetlinkError) {
                _ = try netlink.linkIndex(named: "nope0")
                Issue.record("an absent interface had an index")
            } catch {
                #expect(error.isNotFound, "\(error)")
                #expect(error.description.contains("look up interface 'nope0'"), "\(error)")
            }

            #expect(throws: NetlinkError.self) { try netlink.setLink(index: 1, up: true, mtu: -5) }
            #expect(throws: NetlinkError.self) { _ = try netlink.linkIndex(named: "much-too-long-a-name") }

            // A bad MTU is refused by the kernel, and the socket keeps working afterwards.
            let index = try netlink.linkIndex(named: device)
            do {
                try netlink.setLink(index: index, up: true, mtu: 10)
                Issue.record("an MTU of 10 was accepted")
            } catch let error as NetlinkError {
                print("kernel refusal, as reported: \(error)")
                guard case .kernelRefused(_, let code, let message) = error else {
                    Issue.record("expected a kernel refusal, got \(error)")
                    return
                }
                #expect(code == EINVAL)
                // NETLINK_EXT_ACK: the kernel says why (since Linux 4.12).
                #expect(message != nil, "\(error)")
            }
            try netlink.setLink(index: index, up: true, mtu: 1500)
        }
    }

    @Test("a missing namespace path is a system-call error naming it")
    func missingNamespace() {
        do {
            _ = try RouteNetlink(networkNamespace: "/var/run/netns/tern-nl-does-not-exist-\(getpid())")
            Issue.record("opened a namespace that does not exist")
        } catch {
            guard case .systemCall(let failure) = error else {
                Issue.record("expected a system-call error, got \(error)")
                return
            }
            #expect(failure.errno == ENOENT)
            #expect(error.description.contains("tern-nl-does-not-exist"), "\(error)")
        }
    }

    @Test("interfaceIndex(named:) looks up the caller's namespace")
    func interfaceIndexOfLoopback() throws {
        #expect(try RouteNetlink.interfaceIndex(named: "lo") == 1)
        #expect(throws: NetlinkError.self) { try RouteNetlink.interfaceIndex(named: "tern-absent-0") }
        #expect(throws: NetlinkError.self) { try RouteNetlink.interfaceIndex(named: "") }
    }

    @Test("lookupRoute answers as `ip route get` does: interface, gateway and source, or unreachable")
    func routeLookup() throws {
        guard try requireRootForNetlink() else { return }
        try withNamespace { namespace, netlink in
            try run(["ip", "-n", namespace, "link", "set", device, "up"])
            let index = try netlink.linkIndex(named: device)
            let unreachable = #expect(throws: NetlinkError.self) { try netlink.lookupRoute(to: #require(IPAddress("198.18.9.1"))) }
            #expect(unreachable?.errno == ENETUNREACH, "\(String(describing: unreachable))")

            try netlink.addAddress(try prefix("198.18.7.2/24"), interfaceIndex: index)
            try netlink.addAddress(try prefix("fd00:7::2/64"), interfaceIndex: index)
            try run(["ip", "-n", namespace, "route", "add", "default", "via", "198.18.7.1"])
            try run(["ip", "-n", namespace, "-6", "route", "add", "default", "via", "fd00:7::1"])
            let v4 = try netlink.lookupRoute(to: try #require(IPAddress("198.18.9.1")))
            #expect(v4.outputInterface == index)
            #expect(v4.preferredSource == IPAddress("198.18.7.2"))
            #expect(v4.gateway == IPAddress("198.18.7.1"))
            #expect(v4.type == RouteNetlinkMessage.RTN_UNICAST)
            let v6 = try netlink.lookupRoute(to: try #require(IPAddress("fd00:9::1")))
            #expect(v6.outputInterface == index)
            #expect(v6.preferredSource == IPAddress("fd00:7::2"))
            #expect(v6.gateway == IPAddress("fd00:7::1"))
            let onLink = try netlink.lookupRoute(to: try #require(IPAddress("198.18.7.5")))
            #expect(onLink.gateway == nil)
            #expect(onLink.preferredSource == IPAddress("198.18.7.2"))
        }
    }

    @Test("the route monitor hears address and route changes, and nothing when nothing changes")
    func monitor() throws {
        guard try requireRootForNetlink() else { return }
        try withNamespace { namespace, netlink in
            let monitor = try RouteMonitor(networkNamespace: "/var/run/netns/\(namespace)")
            #expect(try monitor.drainChanges() == 0)
            let index = try netlink.linkIndex(named: device)
            try run(["ip", "-n", namespace, "link", "set", device, "up"])
            try netlink.addAddress(try prefix("198.18.8.2/24"), interfaceIndex: index)
            // The announcements are queued by the time the requests were acknowledged.
            #expect(try monitor.drainChanges() >= 2)
            #expect(try monitor.drainChanges() == 0)
            try run(["ip", "-n", namespace, "route", "add", "default", "via", "198.18.8.1"])
            #expect(try monitor.drainChanges() >= 1)
            try netlink.deleteAddress(try prefix("198.18.8.2/24"), interfaceIndex: index)
            #expect(try monitor.drainChanges() >= 1)
        }
    }

}
