import Foundation
import Testing

/// Issue 13 item 9c: the forwarding sysctls' original values survive a kill -9 of the Home Agent.
@Suite("IP forwarding restored after a crash", .serialized)
struct ForwardingRecordTests {
    private static let sysctls = ["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"]

    private func values(_ ha: SoloHomeAgent) throws -> [String] {
        try Self.sysctls.map {
            try ha.lab.run(["sysctl", "-n", $0], in: ha.namespace).trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    @Test("ip_forward 0, HA start (1), kill -9, start again, clean stop: 0 again")
    func killNine() throws {
        try NetworkLab.run(printingLogsOf: ["ha", "ha2"]) { lab in
            let ha = try SoloHomeAgent(lab: lab, extra: "gateway:\n  masquerade: false")
            for name in Self.sysctls { try lab.run(["sysctl", "-q", "-w", "\(name)=0"], in: ha.namespace) }
            let first = try ha.start("ha")
            #expect(try values(ha) == ["1", "1"])
            kill(first.processIdentifier, SIGKILL)
            first.waitUntilExit()
            #expect(try values(ha) == ["1", "1"], "a kill -9 undoes nothing")
            let second = try ha.start("ha2")
            #expect(lab.log("ha2").contains("did not stop cleanly"), "\(lab.log("ha2"))")
            #expect(lab.stop(second) == 0)
            #expect(try values(ha) == ["0", "0"], "\(lab.log("ha2"))")
            let records = try FileManager.default.contentsOfDirectory(atPath: lab.directory.path).filter { $0.contains("forward") }
            #expect(records.isEmpty, "records left after a clean stop: \(records)")
        }
    }
}
