import Glibc
import TernConfig
import TernProtocol
import Testing

/// A fresh directory under /tmp, removed afterwards.
final class TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/tern-config-test-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw ConfigurationError(file: "/tmp", message: "mkdtemp failed") }
        path = String(cString: made)
    }

    deinit {
        for name in (try? contents()) ?? [] { unlink(path + "/" + name); rmdir(path + "/" + name) }
        rmdir(path)
    }

    func contents() throws -> [String] {
        guard let directory = opendir(path) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Writes `text` to `name` with `mode`; returns the path.
    @discardableResult
    func write(_ name: String, _ text: String, mode: mode_t = 0o600) -> String {
        let file = path + "/" + name
        let descriptor = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        precondition(descriptor >= 0, "cannot create \(file)")
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
        chmod(file, mode)
        return file
    }
}

@Suite("Key files on disk: permissions before parsing", .serialized)
struct KeyFilePermissionTests {
    static let secret = "000102030405060708090a0b0c0d0e0f10111213"
    static let text = "mn-to-ha-ekey: \(secret)\nha-to-mn-ekey: \(secret)\n"

    func load(_ path: String) -> Result<KeyMaterial, ConfigurationError> {
        do throws(ConfigurationError) {
            return .success(try KeyFile.load(path: path))
        } catch {
            return .failure(error)
        }
    }

    func refusal(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) -> String {
        switch load(path) {
        case .success:
            Issue.record("\(path) was accepted", sourceLocation: sourceLocation)
            return ""
        case .failure(let error):
            #expect(!error.description.contains(Self.secret), sourceLocation: sourceLocation)
            return error.description
        }
    }

    @Test("Runs as root, as the daemons do")
    func root() {
        #expect(geteuid() == 0, "these tests chown files and expect root's view of permissions")
    }

    @Test("0600 and 0400, owned by root: loaded")
    func accepted() throws {
        let directory = try TemporaryDirectory()
        for mode: mode_t in [0o600, 0o400] {
            let path = directory.write("keys-\(mode)", Self.text, mode: mode)
            let material = try load(path).get()
            #expect(material.keys[.mobileNodeToHomeAgentEncryption]?.bytes == Array(0...19))
            #expect(material.keys[.mobileNodeToHomeAgentEncryption]?.line == 1)
            #expect(material.path == path)
        }
    }

    @Test("Any group or other permission is refused", arguments: [0o644, 0o640, 0o604, 0o610, 0o601, 0o660] as [mode_t])
    func groupOrOther(mode: mode_t) throws {
        let directory = try TemporaryDirectory()
        let path = directory.write("keys", Self.text, mode: mode)
        let octal = "0" + String(mode, radix: 8)
        #expect(
            refusal(path)
                == "\(path): key file has mode \(octal); it must not grant group or others any access (chmod 600)")
    }

    @Test("A file not owned by root is refused")
    func owner() throws {
        let directory = try TemporaryDirectory()
        let path = directory.write("keys", Self.text)
        #expect(chown(path, 1000, 1000) == 0)
        #expect(refusal(path) == "\(path): key file is owned by uid 1000; it must be owned by root (chown root)")
    }

    @Test("A symbolic link is refused, even to a good key file")
    func symlinkRefused() throws {
        let directory = try TemporaryDirectory()
        let target = directory.write("keys", Self.text)
        let link = directory.path + "/link"
        #expect(symlink(target, link) == 0)
        #expect(
            refusal(link)
                == "\(link): key file is a symbolic link; name the file itself (key files must be regular files)")
    }

    @Test("A directory or a missing file is refused with the path")
    func notAFile() throws {
        let directory = try TemporaryDirectory()
        let subdirectory = directory.path + "/dir"
        #expect(mkdir(subdirectory, 0o700) == 0)
        #expect(refusal(subdirectory) == "\(subdirectory): key file is not a regular file")
        let missing = directory.path + "/missing"
        #expect(refusal(missing) == "\(missing): cannot open key file: No such file or directory (errno 2)")
    }

    @Test("A key file whose content is wrong names the file and the field, not the key")
    func badContent() throws {
        let directory = try TemporaryDirectory()
        let path = directory.write("keys", "mn-to-ha-ekey: \(Self.secret)zz\n")
        #expect(
            refusal(path)
                == "\(path):1:16: mn-to-ha-ekey: the key must be hex digits without separators; character 41 is not a hex digit")
    }

    @Test("A Mobile Node config with a world-readable key file: the error points at keys in the config")
    func throughTheConfig() throws {
        let directory = try TemporaryDirectory()
        let keys = directory.write("mn.keys", Self.text, mode: 0o644)
        let config = directory.write(
            "mn.yaml",
            """
            home-agent: {address: 198.18.0.1}
            tunnel: {home-addresses: [192.0.2.10]}
            security-association:
              spi: 1
              keys: mn.keys
            """)
        let error = configurationError { () throws(ConfigurationError) in _ = try MobileNodeConfiguration.load(path: config) }
        #expect(
            error?.description
                == "\(config):5:9: security-association.keys: \(keys): key file has mode 0644; it must not grant group or others any access (chmod 600)")
        chmod(keys, 0o600)
        let loaded = try MobileNodeConfiguration.load(path: config)
        #expect(loaded.securityAssociation?.homeAgentToMobileNode.encryptionKey == Array(0...19))
    }
}

@Suite("Reading config files")
struct ConfigFileTests {
    @Test("Reads a file's text")
    func reads() throws {
        let directory = try TemporaryDirectory()
        let path = directory.write("ha.yaml", "tunnel: {}\n", mode: 0o644)
        #expect(try ConfigFile.read(path: path) == "tunnel: {}\n")
    }

    @Test("Refuses a file over the size limit before reading it")
    func tooLarge() throws {
        let directory = try TemporaryDirectory()
        let limit = ConfigurationLimits.maximumFileSize
        let path = directory.write("big.yaml", String(repeating: "#", count: limit + 1))
        let error = configurationError { () throws(ConfigurationError) in _ = try ConfigFile.read(path: path) }
        #expect(error?.description == "\(path): the file is \(limit + 1) octets; at most \(limit) are allowed")
        let atLimit = directory.write("limit.yaml", String(repeating: "#", count: limit))
        #expect(try ConfigFile.read(path: atLimit).utf8.count == limit)
    }

    @Test("I/O errors name the path and errno; no line, column or field")
    func ioErrors() throws {
        let directory = try TemporaryDirectory()
        let missing = directory.path + "/nope.yaml"
        let error = configurationError { () throws(ConfigurationError) in _ = try ConfigFile.read(path: missing) }
        #expect(error?.description == "\(missing): cannot open: No such file or directory (errno 2)")
        #expect(error?.line == nil && error?.column == nil && error?.field == "")
        let notFile = configurationError { () throws(ConfigurationError) in _ = try ConfigFile.read(path: directory.path) }
        #expect(notFile?.description == "\(directory.path): not a regular file")
        let binary = directory.write("bin.yaml", "")
        let descriptor = open(binary, O_WRONLY)
        _ = [UInt8(0xFF), 0xFE, 0x41].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
        let invalid = configurationError { () throws(ConfigurationError) in _ = try ConfigFile.read(path: binary) }
        #expect(invalid?.description == "\(binary): the file is not valid UTF-8 text")
    }

    @Test("HomeAgentConfiguration.load reports a missing file with its path")
    func loadMissing() {
        let error = configurationError { () throws(ConfigurationError) in
            _ = try HomeAgentConfiguration.load(path: "/nonexistent/tern/ha.yaml")
        }
        #expect(error?.description == "/nonexistent/tern/ha.yaml: cannot open: No such file or directory (errno 2)")
    }
}
