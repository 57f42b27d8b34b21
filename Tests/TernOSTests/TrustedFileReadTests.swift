import Foundation
import TernOS
import Testing

/// The one helper for secret files (issue 14 item 3): key files, PSK files, the TLS key and the controller
/// database are opened and checked by it; plain regular files (configuration, certificates) by its sibling.
@Suite("FileTrust reads: secret files, their headers, regular files", .serialized)
struct TrustedFileReadTests {
    private final class Directory {
        let path: String
        init() throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("tern-os-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
            chmod(path, 0o700)
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }

        func write(_ name: String, _ octets: [UInt8], mode: mode_t = 0o600, owner: uid_t = 0) -> String {
            let file = path + "/" + name
            _ = FileManager.default.createFile(atPath: file, contents: Data(octets))
            chmod(file, mode)
            chown(file, owner, 0)
            return file
        }
    }

    private func readSecret(_ path: String, limit: Int = 64) -> Result<[UInt8], FileReadError> {
        do throws(FileReadError) { return .success(try FileTrust.readSecret(path, noun: "key file", limit: limit)) } catch {
            return .failure(error)
        }
    }

    @Test("a root-owned 0600 or 0400 file is read whole; its size limit is exact")
    func reads() throws {
        guard geteuid() == 0 else { return }
        let directory = try Directory()
        #expect(try readSecret(directory.write("a", [1, 2, 3])).get() == [1, 2, 3])
        #expect(try readSecret(directory.write("b", [4], mode: 0o400)).get() == [4])
        #expect(try readSecret(directory.write("c", [UInt8](repeating: 7, count: 64))).get().count == 64)
        #expect(readSecret(directory.write("d", [UInt8](repeating: 7, count: 65))) == .failure(.tooLarge(size: 65, limit: 64)))
    }

    @Test("group or other bits, another owner, a symbolic link, a directory or a FIFO are refused with the rule's words")
    func refused() throws {
        guard geteuid() == 0 else { return }
        let directory = try Directory()
        #expect(
            readSecret(directory.write("m", [1], mode: 0o640))
                == .failure(.refused("key file has mode 0640; it must not grant group or others any access (chmod 600)")))
        #expect(
            readSecret(directory.write("o", [1], owner: 1000))
                == .failure(.refused("key file is owned by uid 1000; it must be owned by root (chown root)")))
        let target = directory.write("t", [1])
        let link = directory.path + "/link"
        #expect(symlink(target, link) == 0)
        #expect(
            readSecret(link)
                == .failure(.refused("key file is a symbolic link; name the file itself (key files must be regular files)")))
        #expect(readSecret(directory.path) == .failure(.refused("key file is not a regular file")))
        let fifo = directory.path + "/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        #expect(readSecret(fifo) == .failure(.refused("key file is not a regular file")), "and open did not block")
        guard case .failure(.cannotOpen(let error)) = readSecret(directory.path + "/missing") else {
            Issue.record("a missing file is cannotOpen")
            return
        }
        #expect(error.errno == ENOENT)
    }

    @Test("a secret file that may be absent: nil when missing, the same checks when present")
    func ifPresent() throws {
        guard geteuid() == 0 else { return }
        let directory = try Directory()
        #expect(try FileTrust.readSecretIfPresent(directory.path + "/none", noun: "state file", limit: 8) == nil)
        let file = directory.write("state", [5, 6])
        #expect(try FileTrust.readSecretIfPresent(file, noun: "state file", limit: 8) == [5, 6])
        chmod(file, 0o660)
        #expect(throws: FileReadError.refused("state file has mode 0660; it must not grant group or others any access (chmod 600)")) {
            try FileTrust.readSecretIfPresent(file, noun: "state file", limit: 8)
        }
    }

    @Test("the header of a secret file: nil when missing, short files give what they hold, the rule still holds")
    func header() throws {
        guard geteuid() == 0 else { return }
        let directory = try Directory()
        #expect(try FileTrust.secretFileHeader(directory.path + "/none", noun: "database", length: 16) == nil)
        let short = try #require(try FileTrust.secretFileHeader(directory.write("s", [1, 2]), noun: "database", length: 16))
        #expect(short.size == 2 && short.header == [1, 2])
        let long = directory.write("l", Array(0..<100))
        #expect(try FileTrust.secretFileHeader(long, noun: "database", length: 4)?.header == [0, 1, 2, 3])
        #expect(try FileTrust.secretFileHeader(long, noun: "database", length: 4)?.size == 100)
        chmod(long, 0o644)
        #expect(throws: FileReadError.refused("database has mode 0644; it must not grant group or others any access (chmod 600)")) {
            try FileTrust.secretFileHeader(long, noun: "database", length: 4)
        }
    }

    @Test("a regular file is read through a symbolic link, whatever its mode; a directory is not a regular file")
    func regular() throws {
        let directory = try Directory()
        let file = directory.write("cert.pem", Array("pem".utf8), mode: 0o644, owner: 1000)
        let link = directory.path + "/live.pem"
        #expect(symlink(file, link) == 0)
        #expect(try FileTrust.readRegularFile(link, limit: 3) == Array("pem".utf8))
        #expect(throws: FileReadError.tooLarge(size: 3, limit: 2)) { try FileTrust.readRegularFile(file, limit: 2) }
        #expect(throws: FileReadError.refused("not a regular file")) { try FileTrust.readRegularFile(directory.path, limit: 2) }
    }

    @Test("PrivateFile.create writes a 0600 file once and refuses to replace anything, a link included")
    func createExclusive() throws {
        let directory = try Directory()
        let path = directory.path + "/new.psk"
        try PrivateFile.create(path, contents: Array("00ff\n".utf8))
        #expect(try PrivateFile.read(path) == "00ff\n")
        var status = stat()
        #expect(stat(path, &status) == 0 && status.st_mode & 0o7777 == 0o600)
        #expect(throws: SystemCallError.self) { try PrivateFile.create(path, contents: [1]) }
        #expect(try PrivateFile.read(path) == "00ff\n", "not replaced")
        let link = directory.path + "/link.psk"
        #expect(symlink(directory.path + "/elsewhere", link) == 0)
        let error = #expect(throws: SystemCallError.self) { try PrivateFile.create(link, contents: [1]) }
        #expect(error?.errno == EEXIST)
        #expect(!FileSystem.exists(directory.path + "/elsewhere"), "the link was not followed")
    }

    @Test("FileSystem: existence and executability, links followed")
    func fileSystem() throws {
        let directory = try Directory()
        #expect(FileSystem.exists(directory.path))
        #expect(!FileSystem.exists(directory.path + "/no"))
        let script = directory.write("tool", Array("#!/bin/sh\n".utf8), mode: 0o700)
        #expect(FileSystem.isExecutableFile(script))
        #expect(!FileSystem.isExecutableFile(directory.write("data", [1], mode: 0o600)))
        #expect(!FileSystem.isExecutableFile(directory.path), "a directory is not an executable file")
        #expect(UserAccount.realUserID == getuid())
        #expect(try UserAccount.named("root").uid == 0)
        #expect(throws: SystemCallError.self) { try UserAccount.named("no-such-user-tern-test") }
    }
}
