import TernConfig
import TernDaemon
import TernProtocol
import Testing

/// What the daemons ask nft, resolvconf/resolvectl and rtnetlink for, built as values (docs/gateway.md,
/// docs/dns.md). The namespace tests apply them; these check the text and arguments themselves.
@Suite("System changes as values: nftables rulesets, resolver commands, policy rules")
struct SystemChangeTests {
    @Test("table names keep only ASCII letters and digits")
    func tableNames() {
        #expect(Gateway.tableName(tunnel: "tern0") == "tern_tern0")
        #expect(Gateway.tableName(tunnel: "t-é 1;") == "tern_t___1_")
        #expect(ReversePathMarking.tableName(tunnel: "tern0") == "tern_mark_tern0")
    }

    @Test("the masquerade ruleset deletes a stale table first, names the outside, and untracks the controller port")
    func ruleset() throws {
        #expect(
            Gateway.ruleset(table: "tern_t", tunnel: "t", masquerade: .off, homeAddresses: [], controllerPort: 7872) == nil)
        let text = try #require(
            Gateway.ruleset(
                table: "tern_t", tunnel: "t", masquerade: .allOutside,
                homeAddresses: [IPPrefix("192.0.2.0/24")!, IPPrefix("192.0.2.7/32")!, IPPrefix("2001:db8::/64")!],
                controllerPort: 7872))
        #expect(text.hasPrefix("table ip tern_t\ndelete table ip tern_t\ntable ip tern_t {"))
        #expect(text.contains("elements = { 192.0.2.0/24 }"), "the /32 inside the /24 is left out; IPv6 is not masqueraded")
        #expect(text.contains("ip saddr @home_addresses oifname != \"t\" masquerade"))
        #expect(text.contains("fib daddr type local tcp dport 7872 notrack"))
        #expect(text.contains("tcp sport 7872 notrack"))
        let named = try #require(
            Gateway.ruleset(table: "tern_t", tunnel: "t", masquerade: .interfaces(["eth0", "wlan0"]), homeAddresses: []))
        #expect(named.contains("oifname { \"eth0\", \"wlan0\" } masquerade"))
        #expect(!named.contains("elements"), "an empty set has no elements line")
        #expect(!named.contains("notrack"), "no controller, no untracked port")
    }

    @Test("set elements: duplicates and covered prefixes go, host bits of a prefix are cleared")
    func elements() {
        let prefixes = ["192.0.2.9/24", "192.0.2.0/24", "198.51.100.1/32", "198.51.100.1/32", "10.0.0.0/8", "10.1.2.3/32"]
            .compactMap { IPPrefix($0) }
        #expect(Gateway.setElements(prefixes) == ["192.0.2.0/24", "198.51.100.1", "10.0.0.0/8"])
        #expect(
            Gateway.setReplacement(table: "tern_t", homeAddresses: [IPPrefix("192.0.2.2/32")!])
                == "flush set ip tern_t home_addresses\nadd element ip tern_t home_addresses { 192.0.2.2 }\n")
        #expect(Gateway.setReplacement(table: "tern_t", homeAddresses: []) == "flush set ip tern_t home_addresses\n")
    }

    @Test("reply marking: a stale inet table goes, both chains carry the tunnel's mark")
    func replyMarking() {
        let text = ReversePathMarking.ruleset(table: "tern_mark_t")
        #expect(text.hasPrefix("table inet tern_mark_t\ndelete table inet tern_mark_t\n"))
        #expect(text.contains("ct mark \(FullTunnelRouting.firewallMark) meta mark set ct mark"))
        #expect(text.contains("meta mark \(FullTunnelRouting.firewallMark) ct mark set meta mark"))
    }

    @Test("full tunnel: main without default routes first, then the tunnel table for what is not marked")
    func policyRules() {
        for ipv6 in [false, true] {
            let rules = FullTunnelRouting.rules(ipv6: ipv6)
            #expect(rules.map(\.priority) == [7870, 7871])
            #expect(rules[0].suppressPrefixLength == 0 && rules[0].table == 254)
            #expect(rules[1].table == 7872 && rules[1].firewallMark == 7872 && rules[1].invert)
            #expect(rules.allSatisfy { $0.ipv6 == ipv6 })
        }
    }

    @Test("resolver commands per manager: resolved links, openresolv's metric and exclusivity, Debian's record")
    func resolver() throws {
        let tool = try #require(ExternalCommand("sh"), "any installed program stands in for the manager's")
        let servers = [IPAddress("10.0.0.53")!, IPAddress("2001:db8::53")!]
        let resolved = ResolverConfiguration.applyCommands(.resolved(tool), tunnel: "t", servers: servers, fullTunnel: true)
        #expect(resolved.map(\.arguments) == [["dns", "t", "10.0.0.53", "2001:db8::53"], ["domain", "t", "~."], ["default-route", "t", "true"]])
        #expect(ResolverConfiguration.applyCommands(.resolved(tool), tunnel: "t", servers: servers, fullTunnel: false).count == 2)
        let open = ResolverConfiguration.applyCommands(.openresolv(tool), tunnel: "t", servers: servers, fullTunnel: true)
        #expect(open.map(\.arguments) == [["-m", "0", "-x", "-a", "t.tern"]])
        #expect(open.first?.input == "# t (Tern)\nnameserver 10.0.0.53\nnameserver 2001:db8::53\n")
        let debian = ResolverConfiguration.applyCommands(.debianResolvconf(tool), tunnel: "t", servers: servers, fullTunnel: true)
        #expect(debian.map(\.arguments) == [["-a", "tun.t"]], "Debian's resolvconf has no -m or -x")
        #expect(ResolverConfiguration.removeCommand(.resolved(tool), tunnel: "t") == ["revert", "t"])
        #expect(ResolverConfiguration.removeCommand(.openresolv(tool), tunnel: "t") == ["-f", "-d", "t.tern"])
        #expect(ResolverConfiguration.removeCommand(.debianResolvconf(tool), tunnel: "t") == ["-d", "tun.t"])
    }

    @Test("external commands: found only in the fixed directories, run without a shell, failures say why")
    func externalCommand() throws {
        #expect(ExternalCommand("no-such-tool-tern") == nil)
        #expect(ExternalCommand("../bin/sh") == nil || ExternalCommand("../bin/sh")?.path.hasPrefix("/") == true)
        let sh = try #require(ExternalCommand("sh"))
        #expect(ExternalCommand.searchDirectories.contains { sh.path.hasPrefix($0 + "/") })
        #expect(try sh.run(["-c", "echo \"$PATH $LC_ALL\""]) == "/usr/sbin:/usr/bin:/sbin:/bin C")
        #expect(try sh.run(["-c", "cat"], input: "in") == "in")
        let failed = #expect(throws: ExternalCommandError.self) { try sh.run(["-c", "echo no >&2; exit 3"]) }
        #expect(failed?.description == "\(sh.path) -c echo no >&2; exit 3 exited 3: no")
        let slow = #expect(throws: ExternalCommandError.self) { try sh.run(["-c", "sleep 5"], timeoutSeconds: 0.2) }
        #expect(slow?.description.hasSuffix("did not finish within 0.2 s") == true)
    }
}
