import Foundation
import Testing
import TernTestSupport

/// `scripts/package-deb.sh` (docs/packaging.md), checked cheaply: with `--binary` it packages the `tern`
/// built for the tests instead of making a release build (minutes), so CI checks the package's files,
/// control fields and maintainer scripts on every run. The release build and the install on a fresh
/// Debian 12 are `scripts/check-package.sh`'s, run by hand.
@Suite("Debian package")
struct DebianPackageTests {
    /// What the package must hold (paths as `dpkg-deb --contents` prints them).
    static let expectedPaths = [
        "./usr/bin/tern",
        "./lib/systemd/system/tern-ha.service",
        "./lib/systemd/system/tern-mn.service",
        "./usr/share/doc/tern/README.md",
        "./usr/share/doc/tern/copyright",
        "./usr/share/doc/tern/changelog.gz",
        "./usr/share/doc/tern/docs/packaging.md",
        "./usr/share/doc/tern/examples/ha.yaml",
        "./usr/share/doc/tern/examples/mn.yaml",
        "./usr/share/doc/tern/examples/ha-hac.yaml",
        "./usr/share/doc/tern/examples/mn-hac.yaml",
        "./usr/share/doc/tern/examples/keys.example.yaml",
    ]

    @Test("package-deb.sh --binary: files, control fields and maintainer scripts")
    func package() throws {
        for tool in ["/usr/bin/dpkg-deb", "/usr/bin/dpkg-shlibdeps"] where !FileManager.default.isExecutableFile(atPath: tool) {
            let message = "NOT RUN: \(tool) is missing (Debian package dpkg-dev)"
            if ProcessInfo.processInfo.environment["CI"] != nil { Issue.record("\(message); on CI this is a failure") }
            print("⚠️  \(message)")
            return
        }
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        let output = lab.directory.appendingPathComponent("dist").path
        let script = repositoryRoot.appendingPathComponent("scripts/package-deb.sh").path
        let built = try lab.execute(["bash", script, "--binary", try ternBinary(), "--output", output], timeout: 300)
        try #require(built.status == 0, "\(built.output)")

        let versionSource = try String(
            contentsOf: repositoryRoot.appendingPathComponent("Sources/TernProtocol/Version.swift"), encoding: .utf8)
        let version = try #require(versionSource.firstMatch(of: /static let current = "([^"]+)"/)?.1)
        let architecture = try lab.run(["dpkg", "--print-architecture"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let deb = "\(output)/tern_\(version)_\(architecture).deb"
        #expect(built.output.split(separator: "\n").last.map(String.init) == deb)

        // Files: every expected one, root-owned, nothing in /etc (the units wait for a config there).
        let listing = try lab.run(["dpkg-deb", "--contents", deb]).split(separator: "\n")
        let paths = Set(listing.compactMap { $0.split(separator: " ").last.map(String.init) })
        let missing = Self.expectedPaths.filter { !paths.contains($0) }
        #expect(missing.isEmpty, "the package lacks \(missing)")
        let inEtc = paths.filter { $0.hasPrefix("./etc") }
        #expect(inEtc.isEmpty, "the package ships \(inEtc)")
        let notRoot = listing.filter { !$0.contains(" root/root ") }
        #expect(notRoot.isEmpty, "not root:root: \(notRoot)")

        // Control fields.
        func field(_ name: String) throws -> String {
            try lab.run(["dpkg-deb", "--field", deb, name]).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(try field("Package") == "tern")
        #expect(try field("Version") == version)
        #expect(try field("Architecture") == architecture)
        #expect(try field("Recommends") == "nftables, iproute2")
        let depends = try field("Depends")
        // procps for /bin/kill, the units' ExecReload.
        for library in ["libc6", "libssl3", "libcap2", "libsqlite3-0", "procps"] {
            #expect(depends.contains(library), "Depends lacks \(library): \(depends)")
        }

        // The units inside are Configs/systemd's, unchanged; the maintainer scripts are valid sh, 0755.
        let extracted = lab.directory.appendingPathComponent("root").path
        try lab.run(["dpkg-deb", "--extract", deb, extracted])
        for unit in ["tern-ha.service", "tern-mn.service"] {
            let installed = try Data(contentsOf: URL(fileURLWithPath: "\(extracted)/lib/systemd/system/\(unit)"))
            let source = try Data(contentsOf: repositoryRoot.appendingPathComponent("Configs/systemd/\(unit)"))
            #expect(installed == source, "\(unit) differs from Configs/systemd/\(unit)")
        }
        let control = lab.directory.appendingPathComponent("control").path
        try lab.run(["dpkg-deb", "--control", deb, control])
        for script in ["postinst", "prerm", "postrm"] {
            let path = "\(control)/\(script)"
            let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
            #expect(mode == 0o755, "\(script) has mode \(String(mode ?? 0, radix: 8))")
            let syntax = try lab.execute(["sh", "-n", path])
            #expect(syntax.status == 0, "\(script): \(syntax.output)")
        }
    }
}
