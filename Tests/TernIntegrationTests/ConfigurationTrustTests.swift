import Foundation
import Testing

/// A Home Agent alone in one namespace (no Mobile Node, no uplink): enough to see what it refuses at start
/// or on SIGHUP, and what it changes on the system.
struct SoloHomeAgent {
    let lab: NetworkLab
    let namespace: String
    let binary: String
    let config: String
    let statusFile: String
    let controlSocket: String

    init(lab: NetworkLab, extra: String = "") throws {
        self.lab = lab
        namespace = try lab.namespace("ha")
        binary = try ternBinary()
        statusFile = lab.directory.appendingPathComponent("ha-status.json").path
        controlSocket = lab.directory.appendingPathComponent("ha.sock").path
        let keys = try TestSecurityAssociation(spi: 0x5EED).writeKeys(lab, name: "mn")
        config = try lab.write(
            "ha.yaml",
            """
            tunnel:
              addresses: ["192.0.2.1/24"]
            listen: {addresses: ["127.0.0.1"]}
            mobile-nodes:
              - {name: laptop, spi: 0x5EED, keys: \(keys), home-addresses: ["192.0.2.10"]}
            status-file: \(statusFile)
            control-socket: \(controlSocket)
            \(extra)
            """, mode: 0o644)
    }

    /// Starts `tern ha` (log `name`) and waits until it is up.
    func start(_ name: String) throws -> Process {
        let process = try lab.start(name, [binary, "ha", "--config", config], in: namespace)
        try lab.wait("the home agent to come up", timeout: 15) {
            if !process.isRunning { throw LabError("tern ha exited: \(lab.log(name))") }
            return lab.log(name).contains("home agent up")
        }
        return process
    }

    /// Runs `tern ha` expecting it to refuse to start: its exit status and output.
    func refusal() throws -> (status: Int32, output: String) {
        try lab.execute([binary, "ha", "--config", config], in: namespace, timeout: 15)
    }
}

/// Issue 13 item 8: a configuration that group or others can write is refused at start and on SIGHUP
/// (as sshd's StrictModes); the status file is root-only.
@Suite("Configuration and state files that others could write", .serialized)
struct ConfigurationTrustTests {
    private func mode(_ path: String) -> mode_t {
        var status = stat()
        return stat(path, &status) == 0 ? status.st_mode & 0o7777 : 0
    }

    @Test("a 0666 ha.yaml and a 0775 config directory are refused (exit 78, chmod go-w); the status file is 0600")
    func refusedAtStart() throws {
        try NetworkLab.run(printingLogsOf: ["ha"]) { lab in
            let ha = try SoloHomeAgent(lab: lab)
            chmod(ha.config, 0o666)
            let open = try ha.refusal()
            #expect(open.status == 78, "\(open.output)")
            #expect(open.output.contains("\(ha.config): refused: \(ha.config): configuration file has mode 0666: group or others can write it"), "\(open.output)")
            #expect(open.output.contains("chmod go-w \(ha.config)"), "\(open.output)")
            chmod(ha.config, 0o644)
            chmod(lab.directory.path, 0o775)
            let directory = try ha.refusal()
            chmod(lab.directory.path, 0o700)
            #expect(directory.status == 78, "\(directory.output)")
            #expect(directory.output.contains("\(lab.directory.path): directory has mode 0775"), "\(directory.output)")
            #expect(directory.output.contains("chmod go-w \(lab.directory.path)"), "\(directory.output)")

            // A status file an older version left 0644 is replaced by a 0600 one.
            #expect(FileManager.default.createFile(atPath: ha.statusFile, contents: Data("{}".utf8), attributes: [.posixPermissions: 0o644]))
            let process = try ha.start("ha")
            try lab.wait("the status file to be rewritten", timeout: 5) {
                ((try? String(contentsOfFile: ha.statusFile, encoding: .utf8)) ?? "").contains("home-agent")
            }
            #expect(mode(ha.statusFile) == 0o600, "status file mode \(String(mode(ha.statusFile), radix: 8))")
            #expect(lab.stop(process) == 0)
        }
    }

    @Test("SIGHUP with a config that became 0666 changes nothing and says why")
    func refusedOnReload() throws {
        try NetworkLab.run(printingLogsOf: ["ha"]) { lab in
            let ha = try SoloHomeAgent(lab: lab, extra: "log-level: info")
            let process = try ha.start("ha")
            // The new file would turn debug logging on; it must not be applied.
            try String(contentsOfFile: ha.config, encoding: .utf8).replacingOccurrences(of: "log-level: info", with: "log-level: debug")
                .write(toFile: ha.config, atomically: false, encoding: .utf8)
            chmod(ha.config, 0o666)
            kill(process.processIdentifier, SIGHUP)
            try lab.wait("the reload to be refused", timeout: 5) { lab.log("ha").contains("nothing changed") }
            #expect(lab.log("ha").contains("configuration file has mode 0666"), "\(lab.log("ha"))")
            #expect(!lab.log("ha").contains("log level"), "\(lab.log("ha"))")
            #expect(lab.stop(process) == 0)
        }
    }
}
