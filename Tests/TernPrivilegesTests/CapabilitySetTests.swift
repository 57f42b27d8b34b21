import Foundation
import TernPrivileges
import Testing

/// The pure part of privilege dropping: the documented capability lists as the bitmasks /proc shows, and
/// the parsing of /proc/PID/status.
@Suite("Capability sets")
struct CapabilitySetTests {
    @Test("names parse to the kernel's bit numbers (include/uapi/linux/capability.h)")
    func names() throws {
        #expect(CapabilitySet(parsing: "CAP_NET_ADMIN")?.rawValue == 1 << 12)
        #expect(CapabilitySet(parsing: "cap_net_admin, CAP_DAC_READ_SEARCH")?.rawValue == 1 << 12 | 1 << 2)
        #expect(CapabilitySet(parsing: "net_bind_service net_raw")?.rawValue == 1 << 10 | 1 << 13)
        #expect(CapabilitySet(parsing: "cap_sys_admin")?.rawValue == 1 << 21)
        #expect(CapabilitySet(parsing: "cap_checkpoint_restore")?.rawValue == 1 << 40)
        #expect(CapabilitySet(parsing: "")?.rawValue == 0)
        #expect(CapabilitySet(parsing: "cap_net_admin,cap_flying") == nil)
        #expect(CapabilitySet.names.count == 41)
        #expect(Set(CapabilitySet.names).count == CapabilitySet.names.count)
    }

    @Test("the documented sets per role (docs/privileges.md)")
    func documentedSets() {
        let netAdmin = CapabilitySet(rawValue: 0x1000)
        #expect(PrivilegePolicy.retained(for: .homeAgent, switchesUser: false) == netAdmin)
        #expect(PrivilegePolicy.retained(for: .homeAgent, switchesUser: true) == netAdmin)
        #expect(PrivilegePolicy.retained(for: .mobileNode(rereadsKeyFiles: false), switchesUser: false) == netAdmin)
        #expect(PrivilegePolicy.retained(for: .mobileNode(rereadsKeyFiles: true), switchesUser: false) == netAdmin)
        #expect(PrivilegePolicy.retained(for: .mobileNode(rereadsKeyFiles: false), switchesUser: true) == netAdmin)
        #expect(PrivilegePolicy.retained(for: .mobileNode(rereadsKeyFiles: true), switchesUser: true).rawValue == 0x1004)
        // Nothing a daemon keeps lets it bind low ports again, open raw sockets, or undo the drop.
        for role in [PrivilegePolicy.Role.homeAgent, .mobileNode(rereadsKeyFiles: true)] {
            for switches in [false, true] {
                let kept = PrivilegePolicy.retained(for: role, switchesUser: switches)
                for forbidden in ["cap_net_bind_service", "cap_net_raw", "cap_setpcap", "cap_setuid", "cap_sys_admin", "cap_dac_override"] {
                    #expect(kept.rawValue & (CapabilitySet(parsing: forbidden)?.rawValue ?? 0) == 0, "\(forbidden)")
                }
            }
        }
    }

    @Test("a /proc/PID/status file parses into the lines the drop changes")
    func procStatus() throws {
        let status = """
            Name:\ttern
            Umask:\t0022
            State:\tS (sleeping)
            Tgid:\t4242
            Uid:\t65534\t65534\t65534\t65534
            Gid:\t65534\t65534\t65534\t65534
            CapInh:\t0000000000000000
            CapPrm:\t0000000000001000
            CapEff:\t0000000000001000
            CapBnd:\t0000000000001000
            CapAmb:\t0000000000000000
            NoNewPrivs:\t1
            Seccomp:\t0
            """
        let credentials = try #require(ProcessCredentials(status: status))
        #expect(credentials == ProcessCredentials.afterDrop(retaining: CapabilitySet(rawValue: 0x1000), uid: 65534))
        #expect(credentials.description.contains("CapEff CAP_NET_ADMIN"))
        let root = status.replacingOccurrences(of: "CapBnd:\t0000000000001000", with: "CapBnd:\t000001ffffffffff")
        #expect(ProcessCredentials(status: root)?.bounding.rawValue == 0x1ff_ffff_ffff)
        #expect(ProcessCredentials(status: root) != ProcessCredentials.afterDrop(retaining: CapabilitySet(rawValue: 0x1000), uid: 65534))
        // A missing or malformed line is not a set of empty capabilities.
        #expect(ProcessCredentials(status: status.replacingOccurrences(of: "NoNewPrivs:\t1\n", with: "")) == nil)
        #expect(ProcessCredentials(status: status.replacingOccurrences(of: "CapEff:\t0000000000001000", with: "CapEff:\tzz")) == nil)
    }

    @Test("printing")
    func printing() {
        #expect(CapabilitySet(rawValue: 0x1004).description == "CAP_DAC_READ_SEARCH,CAP_NET_ADMIN")
        #expect(CapabilitySet.empty.description == "none")
        #expect(CapabilitySet(rawValue: 0x1004).numbers == [2, 12])
    }
}
