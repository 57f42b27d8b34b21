// Certificates for the TLS and controller tests, made with the `openssl` command (Debian's openssl) in a
// temporary directory; and a bounded way to run a command.
import Foundation

public struct FixtureError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Runs `arguments` through /usr/bin/env, at most `timeout` seconds; returns the exit status and output.
public func execute(_ arguments: [String], timeout: Double = 20, stdinNull: Bool = true) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    // A file, not a pipe: a chatty command never blocks on a full pipe while we wait.
    let outputFile = FileManager.default.temporaryDirectory.appendingPathComponent("tern-tls-\(UUID().uuidString).out")
    _ = FileManager.default.createFile(atPath: outputFile.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: outputFile) }
    let handle = try FileHandle(forWritingTo: outputFile)
    defer { try? handle.close() }
    process.standardOutput = handle
    process.standardError = handle
    if stdinNull { process.standardInput = FileHandle.nullDevice }
    try process.run()
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { usleep(5_000) }
    if process.isRunning {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        throw FixtureError("\(arguments.joined(separator: " ")) did not finish within \(timeout) s")
    }
    let output = (try? String(contentsOf: outputFile, encoding: .utf8)) ?? ""
    return (process.terminationStatus, output)
}

/// Makes certificates with the openssl command in a temporary directory, removed by ``remove()``.
public final class CertificateFactory {
    public let directory: String

    public init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tern-tls-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try """
            [req]
            distinguished_name = dn
            [dn]
            [v3_ca]
            basicConstraints = critical,CA:TRUE
            keyUsage = critical,keyCertSign,cRLSign
            subjectKeyIdentifier = hash

            """.write(toFile: path("openssl.cnf"), atomically: true, encoding: .utf8)
    }

    public func remove() { try? FileManager.default.removeItem(atPath: directory) }

    public func path(_ name: String) -> String { "\(directory)/\(name)" }

    @discardableResult
    public func openssl(_ arguments: [String]) throws -> String {
        let (status, output) = try execute(["openssl"] + arguments)
        guard status == 0 else { throw FixtureError("openssl \(arguments.joined(separator: " ")) failed: \(output)") }
        return output
    }

    public enum KeyType {
        case p256, rsa, ed25519

        public var arguments: [String] {
            switch self {
            case .p256: ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
            case .rsa: ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]
            case .ed25519: ["-algorithm", "ED25519"]
            }
        }
    }

    /// Makes a key file `name.key` with mode 0600.
    public func key(_ name: String, _ type: KeyType) throws -> String {
        let file = path("\(name).key")
        try openssl(["genpkey"] + type.arguments + ["-out", file])
        chmod(file, 0o600)
        return file
    }

    /// A self-signed CA: `name.pem`, `name.key`.
    public func certificateAuthority(_ name: String, _ type: KeyType = .p256) throws -> (certificate: String, key: String) {
        let key = try key(name, type)
        let certificate = path("\(name).pem")
        var arguments = ["req", "-x509", "-new", "-key", key, "-out", certificate, "-subj", "/CN=\(name)", "-days", "2",
            "-config", path("openssl.cnf"), "-extensions", "v3_ca"]
        if type != .ed25519 { arguments += ["-sha256"] }
        try openssl(arguments)
        return (certificate, key)
    }

    /// A leaf `name.pem` with key `name.key`, subjectAltName `altNames` (e.g. `DNS:hac.example.test`), signed
    /// by `issuer` with `signing` (e.g. `["-sha256"]`), or self-signed when `issuer` is nil.
    public func leaf(
        _ name: String, _ type: KeyType = .p256, altNames: String, issuer: (certificate: String, key: String)?,
        signing: [String] = ["-sha256"]
    ) throws -> (certificate: String, key: String) {
        let key = try key(name, type)
        let certificate = path("\(name).pem")
        let extensions = path("\(name).ext")
        try "subjectAltName=\(altNames)\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
            .write(toFile: extensions, atomically: true, encoding: .utf8)
        let request = path("\(name).csr")
        try openssl(["req", "-new", "-key", key, "-subj", "/CN=\(name)", "-out", request, "-config", path("openssl.cnf")])
        var arguments = ["x509", "-req", "-in", request, "-days", "2", "-extfile", extensions, "-out", certificate,
            "-set_serial", "0x\(UUID().uuidString.prefix(8))"]
        if let issuer {
            arguments += ["-CA", issuer.certificate, "-CAkey", issuer.key]
        } else {
            arguments += ["-key", key]
        }
        try openssl(arguments + signing)
        return (certificate, key)
    }

    /// The certificate's DER, via `openssl x509 -outform DER`.
    public func der(_ certificate: String) throws -> [UInt8] {
        let file = certificate + ".der"
        try openssl(["x509", "-in", certificate, "-outform", "DER", "-out", file])
        return Array(try Data(contentsOf: URL(fileURLWithPath: file)))
    }

    /// The digest of the certificate's DER computed by `openssl dgst`, independently of Tern.
    public func digest(_ certificate: String, _ algorithm: String) throws -> [UInt8] {
        let der = certificate + ".der"
        try openssl(["x509", "-in", certificate, "-outform", "DER", "-out", der])
        let out = certificate + ".\(algorithm)"
        try openssl(["dgst", "-\(algorithm)", "-binary", "-out", out, der])
        return Array(try Data(contentsOf: URL(fileURLWithPath: out)))
    }
}

