import Foundation
import TernOS
import Testing

/// The one rule for trusted files (issue 13 item 8): the pure check, and the walk of a configuration
/// file's symbolic link chain.
@Suite("FileTrust: secrets and configuration files")
struct FileTrustTests {
    private static let file: UInt32 = 0o100000
    private static let directory: UInt32 = 0o040000
    private static let link: UInt32 = 0o120000

    @Test("secret: root-owned regular file with no group/other bits; anything else says how to fix it")
    func secret() {
        func check(_ mode: UInt32, owner: UInt32 = 0) -> String? {
            FileTrust.violation(
                .init(mode: mode, owner: owner), policy: .secret, kind: .regularFile, noun: "key file", path: "/k")
        }
        #expect(check(Self.file | 0o600) == nil)
        #expect(check(Self.file | 0o400) == nil)
        #expect(check(Self.file | 0o640) == "key file has mode 0640; it must not grant group or others any access (chmod 600)")
        #expect(check(Self.file | 0o600, owner: 1000) == "key file is owned by uid 1000; it must be owned by root (chown root)")
        #expect(check(Self.link | 0o777)?.contains("symbolic link") == true)
        #expect(check(Self.directory | 0o700) == "key file is not a regular file")
    }

    @Test("configuration: owner root or the running user, no group/other write; read bits are fine")
    func configuration() {
        func check(_ mode: UInt32, owner: UInt32 = 0, kind: FileTrust.Kind = .regularFile) -> String? {
            FileTrust.violation(
                .init(mode: mode, owner: owner), policy: .configuration, kind: kind, noun: "configuration file",
                path: "/etc/tern/ha.yaml", effectiveUser: 0)
        }
        #expect(check(Self.file | 0o644) == nil)
        #expect(check(Self.file | 0o600) == nil)
        #expect(check(Self.file | 0o666)?.contains("mode 0666: group or others can write it") == true)
        #expect(check(Self.file | 0o666)?.hasSuffix("chmod go-w /etc/tern/ha.yaml") == true)
        #expect(check(Self.file | 0o664) != nil)
        #expect(check(Self.file | 0o644, owner: 1000)?.contains("owned by uid 1000") == true)
        #expect(check(Self.directory | 0o755, kind: .directory) == nil)
        #expect(check(Self.directory | 0o775, kind: .directory) != nil)
        #expect(check(Self.directory | 0o1777, kind: .directory) != nil, "sticky /tmp-like directories too")
    }

    @Test("a configuration file reached through a link in a writable directory is refused; a good chain passes")
    func chain() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("tern-trust-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: base) }
        let safe = base + "/safe"
        let open = base + "/open"
        try FileManager.default.createDirectory(atPath: safe, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: open, withIntermediateDirectories: true)
        chmod(base, 0o755)
        chmod(safe, 0o755)
        chmod(open, 0o777)
        let config = safe + "/ha.yaml"
        #expect(FileManager.default.createFile(atPath: config, contents: Data("{}\n".utf8), attributes: [.posixPermissions: 0o644]))
        #expect(FileTrust.configurationViolation(config) == nil)
        #expect(symlink(config, safe + "/link.yaml") == 0)
        #expect(FileTrust.configurationViolation(safe + "/link.yaml") == nil)
        // The link sits where anyone can replace it.
        #expect(symlink(config, open + "/link.yaml") == 0)
        #expect(FileTrust.configurationViolation(open + "/link.yaml")?.hasPrefix("\(open): directory has mode 0777") == true)
        // The link is fine, the file it ends at is not.
        chmod(config, 0o666)
        #expect(FileTrust.configurationViolation(safe + "/link.yaml")?.hasPrefix("\(config): configuration file has mode 0666") == true)
        #expect(FileTrust.configurationViolation(base + "/missing.yaml")?.contains("No such file") == true)
    }
}
