import Foundation
import Testing

/// `tern users` against a real database file: what an operator types, and what must never leak.
@Suite("tern users")
struct UsersCommandTests {
    @Test("add writes the key once to a new 0600 file; list and show never print it; remove removes")
    func lifecycle() throws {
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        let binary = try ternBinary()
        let database = lab.directory.appendingPathComponent("hac.sqlite").path
        let keyFile = lab.directory.appendingPathComponent("laptop.psk").path
        func tern(_ arguments: [String]) throws -> (status: Int32, output: String) {
            try lab.execute([binary, "users"] + arguments)
        }

        let added = try tern(["add", "--database", database, "laptop@example.test", "--psk-file", keyFile])
        #expect(added.status == 0, "\(added.output)")
        let key = try String(contentsOfFile: keyFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(key.count == 64 && key.allSatisfy(\.isHexDigit), "a 32-octet key in hex")
        var status = stat()
        #expect(stat(keyFile, &status) == 0 && status.st_mode & 0o777 == 0o600)
        #expect(stat(database, &status) == 0 && status.st_mode & 0o077 == 0)

        let again = try tern(["add", "--database", database, "laptop@example.test", "--psk-file", keyFile + ".2"])
        #expect(again.status != 0 && again.output.contains("exists already"), "\(again.output)")
        #expect(!FileManager.default.fileExists(atPath: keyFile + ".2"), "no key file for a refused add")
        let clobber = try tern(["add", "--database", database, "other@example.test", "--psk-file", keyFile])
        #expect(clobber.status != 0, "an existing key file is never overwritten")
        #expect(try String(contentsOfFile: keyFile, encoding: .utf8).contains(key))
        let bad = try tern(["add", "--database", database, "two words", "--psk-file", keyFile + ".3"])
        #expect(bad.status == 78 && bad.output.contains("network access identifier"), "\(bad.output)")

        for arguments in [["list", "--database", database], ["show", "--database", database, "laptop@example.test"]] {
            let shown = try tern(arguments)
            #expect(shown.status == 0 && shown.output.contains("laptop@example.test"), "\(shown.output)")
            #expect(!shown.output.contains(key) && !shown.output.contains(String(key.prefix(16))))
        }
        #expect(try tern(["remove", "--database", database, "laptop@example.test"]).status == 0)
        let gone = try tern(["show", "--database", database, "laptop@example.test"])
        #expect(gone.status != 0 && gone.output.contains("no mobile node"), "\(gone.output)")
    }
}
