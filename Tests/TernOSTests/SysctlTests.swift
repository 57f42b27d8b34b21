import TernOS
import Testing

@Suite("Sysctl names")
struct SysctlTests {
    @Test("dotted names map to /proc/sys paths; a '/' in a component stands for a dot, as in sysctl(8)")
    func paths() {
        #expect(Sysctl.path("net.ipv4.ip_forward") == "/proc/sys/net/ipv4/ip_forward")
        #expect(Sysctl.path("net.ipv6.conf.eth0/100.forwarding") == "/proc/sys/net/ipv6/conf/eth0.100/forwarding")
        #expect(Sysctl.name("net.ipv6.conf", interface: "tern-ha.0", "router_solicitations")
            == "net.ipv6.conf.tern-ha/0.router_solicitations")
        #expect(Sysctl.path(Sysctl.name("net.ipv6.conf", interface: "tern-ha.0", "router_solicitations"))
            == "/proc/sys/net/ipv6/conf/tern-ha.0/router_solicitations")
    }
}
