import Foundation
import TernTestSupport
import Testing

/// Issue 13, item 5, against real daemons: an attacker loops `tern mn` with a wrong PSK for the real
/// MN's identity from its own namespace. The controller backs off (503 with retry-after, which the
/// guessing `tern mn` waits out, so its rate falls), while the real MN with the right key, from its own
/// address, still bootstraps at once.
@Suite("PSK guessing backs off without locking out the real MN (namespaces)", .serialized)
struct PSKGuessingTests {
    static let attempts = 7

    @Test("a wrong-PSK loop meets 503 and retry-after and slows down; the real MN bootstraps during it")
    func guessing() throws {
        guard requireRoot() else { return }
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        let certificates = try CertificateFactory()
        defer { certificates.remove() }
        do {
            let topology = try Topology(lab: lab, attacker: true)
            var deployment = try ControllerDeployment(topology: topology, certificates: certificates, startingMobileNode: false)
            let attacker = try #require(topology.attacker)
            let wrongKey = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
            let wrongPSK = try lab.write("wrong.psk", wrongKey + "\n")
            let guesserConfig = try lab.write(
                "guesser.yaml",
                """
                hac:
                  address: \(Topology.haUnderlay4)
                  server-name: hac.example.test
                  identity: laptop@example.test
                  psk-file: \(wrongPSK)
                  ca-file: \(deployment.authority.certificate)
                tunnel:
                  name: guess0
                control-socket: \(lab.directory.appendingPathComponent("guesser.sock").path)
                status-file: \(lab.directory.appendingPathComponent("guesser-status.json").path)
                """)
            let loop = try lab.write(
                "guess.sh",
                """
                for i in $(seq 1 \(Self.attempts)); do
                  start=$(date +%s.%N)
                  \(deployment.binary) mn --config \(guesserConfig) 2>&1 | tail -n 3
                  echo "attempt $i took $(awk "BEGIN { print $(date +%s.%N) - $start }") s"
                done
                echo "guessing done"
                """, mode: 0o700)
            let guesser = try lab.start("guesser", ["bash", loop], in: attacker)
            defer { _ = lab.stop(guesser) }
            try lab.wait("the guesser to meet a retry-after", timeout: 30) {
                if !guesser.isRunning { throw LabError("the guesser ended without a retry-after: \(lab.log("guesser"))") }
                return lab.log("guesser").contains("retry-after")
            }
            // During the guessing, the real MN (the right key, its own address) is evaluated and gets in.
            try deployment.startMobileNode(timeout: 10)
            #expect(lab.log("mn0").contains("bootstrapped over TLSv1.3"), "\(lab.log("mn0"))")
            #expect(!lab.log("mn0").contains("retry-after"), "\(lab.log("mn0"))")

            try lab.wait("the guesser to finish", timeout: 90) { lab.log("guesser").contains("guessing done") }
            let log = lab.log("guesser")
            print("PSKGuessingTests: guesser log:\n\(log)")
            let durations = log.split(separator: "\n").compactMap { line -> Double? in
                guard line.hasPrefix("attempt "), let took = line.split(separator: " ").dropLast().last else { return nil }
                return Double(took)
            }
            #expect(durations.count == Self.attempts, "\(log)")
            // The first attempts fail at once; once throttled, each waits out its retry-after (≥ 1 s).
            #expect((durations.last ?? 0) >= 1, "\(durations)")
            #expect(durations.reduce(0, +) >= 5, "the guessing slowed down: \(durations)")
            let json = try lab.run([deployment.binary, "status", "--json", "--socket", deployment.controlSocket])
            let status = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
            let controller = try #require(status["controller"] as? [String: Any], "\(json)")
            print("PSKGuessingTests: controller \(controller)")
            #expect(((controller["throttled"] as? Int) ?? 0) >= 2, "\(controller)")
            #expect(lab.log("ha").contains("throttled: answered 503 with retry-after"), "\(lab.log("ha").suffix(2000))")
        } catch {
            lab.printLogs(["ha", "mn0", "guesser"])
            throw error
        }
    }
}
