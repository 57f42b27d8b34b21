import Foundation
import Testing
import TernOS
import TernProtocol
import TernTLS
import TernTestSupport

private let hacName = TLSServerIdentity.dnsName("hac.example.test")

/// Connects a client and expects a TLS error of `kind`; returns it, and the server's outcome.
private func expectClientFailure(
    _ kind: TLSError.Kind, client: TLSClientContext, server: OneShotServer
) throws -> (TLSError, Result<String, TLSError>?) {
    var caught: TLSError?
    do {
        let session = try client.connect(to: server.address, deadline: .after(seconds: 10))
        Issue.record("handshake succeeded with \(session.protocolVersion); expected \(kind)")
    } catch {
        caught = error
    }
    let serverOutcome = server.join()
    let error = try #require(caught)
    #expect(error.kind == kind, "\(error)")
    return (error, serverOutcome)
}

@Suite("TernTLS: handshake, verification (RFC 6618 §9.2), tls-server-end-point (RFC 5929 §4.1)")
struct TLSTests {
    @Test("TLS 1.3 by default: messages both ways, the same tls-server-end-point on both ends as openssl dgst")
    func handshakeAndChannelBinding() throws {
        let factory = try CertificateFactory()
        defer { factory.remove() }
        let ca = try factory.certificateAuthority("ca")
        let leaf = try factory.leaf("hac", altNames: "DNS:hac.example.test,IP:127.0.0.1", issuer: ca)
        let serverContext = try TLSServerContext(certificateChainFile: leaf.certificate, privateKeyFile: leaf.key)
        let server = try OneShotServer(context: serverContext) { session, deadline throws(TLSError) in
            let request = try session.readExactly(5, deadline: deadline)
            try session.write(request.reversed(), deadline: deadline)
            try session.shutdown(deadline: deadline)
            return String(decoding: request, as: UTF8.self)
        }
        let client = try TLSClientContext(trust: .certificateAuthorities(file: ca.certificate), serverIdentity: hacName)
        let session = try client.connect(to: server.address, deadline: .after(seconds: 10))
        try session.write(Array("hello".utf8), deadline: .after(seconds: 10))
        let answer = try session.readExactly(5, deadline: .after(seconds: 10))
        try session.shutdown(deadline: .after(seconds: 10))
        let outcome = server.join()
        #expect(outcome == .success("hello"))
        #expect(answer == Array("olleh".utf8))

        let expected = try factory.digest(leaf.certificate, "sha256")
        let serverSession = try #require(server.session.value)
        #expect(session.protocolVersion == "TLSv1.3")
        #expect(serverSession.protocolVersion == "TLSv1.3")
        #expect(!session.cipher.isEmpty && session.cipher == serverSession.cipher)
        #expect(session.tlsServerEndPoint == expected)
        #expect(serverSession.tlsServerEndPoint == expected)
        #expect(serverContext.tlsServerEndPoint == expected)
        #expect(session.peerCertificate == (try factory.der(leaf.certificate)))
        #expect(serverSession.localCertificate == session.peerCertificate)
        #expect(serverSession.peerCertificate == nil)
        #expect(try ChannelBinding.hashName(certificate: factory.der(leaf.certificate)) == "SHA256")
        print("negotiated \(session.protocolVersion) \(session.cipher)")
    }

    @Test("TLS 1.2 when the client caps it; the channel binding does not depend on the version")
    func tls12() throws {
        let factory = try CertificateFactory()
        defer { factory.remove() }
        let ca = try factory.certificateAuthority("ca")
        let leaf = try factory.leaf("hac", altNames: "DNS:hac.example.test", issuer: ca)
        let server = try OneShotServer(context: try TLSServerContext(certificateChainFile: leaf.certificate, privateKeyFile: leaf.key)) {
            session, deadline throws(TLSError) in
            try session.write(try session.readExactly(3, deadline: deadline), deadline: deadline)
            return session.protocolVersion
        }
        let client = try TLSClientContext(
            trust: .certificateAuthorities(file: ca.certificate), serverIdentity: hacName, maximumVersion: .tls12)
        let session = try client.connect(to: server.address, deadline: .after(seconds: 10))
        try session.write([1, 2, 3], deadline: .after(seconds: 10))
        #expect(try session.readExactly(3, deadline: .after(seconds: 10)) == [1, 2, 3])
        #expect(server.join() == .success("TLSv1.2"))
        #expect(session.protocolVersion == "TLSv1.2")
        #expect(session.tlsServerEndPoint == (try factory.digest(leaf.certificate, "sha256")))
        #expect(server.session.value?.tlsServerEndPoint == session.tlsServerEndPoint)
        print("negotiated \(session.protocolVersion) \(session.cipher)")
    }

    @Test("iPAddress subjectAltName: 127.0.0.1 matches; ::1 (not in the certificate) is refused; IPv6 transport")
    func ipAddressIdentity() throws {
        let factory = try CertificateFactory()
        defer { factory.remove() }
        let ca = try factory.certificateAuthority("ca")
        let leaf = try factory.leaf("hac", altNames: "DNS:hac.example.test,IP:127.0.0.1", issuer: ca)
        let context = try TLSServerContext(certificateChainFile: leaf.certificate, privateKeyFile: leaf.key)
        let trust = TLSTrust.certificateAuthorities(file: ca.certificate)

        let server = try OneShotServer(context: context)
        let session = try TLSClientContext(trust: trust, serverIdentity: TLSServerIdentity("127.0.0.1"))
            .connect(to: server.address, deadline: .after(seconds: 10))
        _ = server.join()
        #expect(session.peerCertificate != nil)

        let loopback6 = try #require(IPAddress("::1"))
        let server6 = try OneShotServer(context: context, host: loopback6)
        let session6 = try TLSClientContext(trust: trust, serverIdentity: hacName)
            .connect(to: server6.address, deadline: .after(seconds: 10))
        #expect(try server6.join()?.get() == "")
        #expect(session6.protocolVersion == "TLSv1.3")

        let server6b = try OneShotServer(context: context, host: loopback6)
        let (error, _) = try expectClientFailure(
            .verification, client: try TLSClientContext(trust: trust, serverIdentity: .ipAddress(loopback6)), server: server6b)
        #expect(error.detail.contains("IP address mismatch"), "\(error)")
    }

    @Test("RSA-PSS with SHA-384: tls-server-end-point uses the PSS hash")
    func rsaPSS() throws {
        let factory = try CertificateFactory()
        defer { factory.remove() }
        let ca = try factory.certificateAuthority("rsa-ca", .rsa)
        let leaf = try factory.leaf(
            "hac", altNames: "DNS:hac.example.test", issuer: ca,
            signing: ["-sha384", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:-1"])
        let server = try OneShotServer(context: try TLSServerContext(certificateChainFile: leaf.certificate, privateKeyFile: leaf.key))
        let session = try TLSClientContext(trust: .certificateAuthorities(file: ca.certificate), serverIdentity: hacName)
            .connect(to: server.address, deadline: .after(seconds: 10))
        _ = server.join()
        let expected = try factory.digest(leaf.certificate, "sha384")
        #expect(expected.count == 48)
        #expect(session.tlsServerEndPoint == expected)
        #expect(server.session.value?.tlsServerEndPoint == expected)
        #expect(try ChannelBinding.hashName(certificate: factory.der(leaf.certificate)) == "SHA384")
    }

    @Test("A SHA-1-signed certificate: tls-server-end-point is SHA-256 (RFC 5929 §4.1)")
    func sha1Certificate() throws {
        let factory = try CertificateFactory()
        defer { factory.remove() }
        let ca = try factory.certificateAuthority("rsa-ca", .rsa)
        let leaf = try factory.leaf("hac", altNames: "DNS:hac.example.test", issuer: ca, signing: ["-sha1"])
        let der = try factory.der(leaf.certificate)
        #expect(try ChannelBinding.hashName(certificate: der) == "SHA256")
        #expect(try ChannelBinding.tlsServerEndPoint(certificate: der) == (try factory.digest(leaf.certificate, "sha256")))
        // OpenSSL 3.0 at Debian's default security level (2) refuses a SHA-1 signature already when the
        // server loads the certificate ("ca md too weak"): a handshake cannot be tried.
        do {
            _ = try TLSServerContext(certificateChainFile: leaf.certificate, privateKeyFile: leaf.key)
            print("SHA-1 certificate loaded by the server")
        } catch {
            #expect(error.kind == .configuration, "\(error)")
            print("SHA-1 certificate refused by the server: \(error)")
        }
    }

    @Test("Ed25519 certificates are refused on both sides (no single signature hash)")
    func ed25519Refused() throws {
        let factory = try CertificateFactory()
        defer { factory.remove() }
        let ca = try factory.certificateAuthority("ed-ca", .ed25519)
        let leaf = try factory.leaf("hac", .ed25519, altNames: "DNS:hac.example.test", issuer: ca, signing: [])
        #expect {
            try ChannelBinding.tlsServerEndPoint(certificate: factory.der(leaf.certificate))
        } throws: { ($0 as? TLSError)?.kind == .verification }

        // Server: refuses to load it.
        do {
            _ = try TLSServerContext(certificateChainFile: leaf.certificate, privateKeyFile: leaf.key)
            Issue.record("server loaded an Ed25519 certificate")
        } catch {
            #expect(error.kind == .configuration && error.detail.contains("ED25519"), "\(error)")
        }
        // Client: refuses it as a pin, and from a server that presents it (openssl s_server).
        do {
            _ = try TLSClientContext(trust: .pinnedCertificate(file: leaf.certificate), serverIdentity: hacName)
            Issue.record("client accepted an Ed25519 pin")
        } catch {
            #expect(error.kind == .configuration, "\(error)")
        }
        let output = factory.path("s_server.out")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["timeout", "20", "openssl", "s_server", "-accept", "127.0.0.1:0", "-naccept", "1",
            "-cert", leaf.certificate, "-key", leaf.key]
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        defer { try? handle.close() }
        process.standardOutput = handle
        process.standardError = handle
        // s_server quits at end of its standard input: give it a pipe that stays open until the test ends.
        let input = Pipe()
        process.standardInput = input
        defer { try? input.fileHandleForWriting.close() }
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGTERM) }; process.waitUntilExit() }
        var port: UInt16?
        let start = Date()
        while port == nil && Date().timeIntervalSince(start) < 10 {
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("ACCEPT") }),
                let last = line.split(separator: ":").last
            {
                port = UInt16(last.trimmingCharacters(in: .whitespaces))
            }
            usleep(20_000)
        }
        let serverPort = try #require(port, "openssl s_server did not report its port")
        let client = try TLSClientContext(trust: .certificateAuthorities(file: ca.certificate), serverIdentity: hacName)
        do {
            _ = try client.connect(to: SocketAddress(loopback4, port: serverPort), deadline: .after(seconds: 10))
            Issue.record("client accepted an Ed25519-signed server certificate")
        } catch {
            #expect(error.kind == .verification && error.detail.contains("ED25519"), "\(error)")
        }
    }

    @Test("A wildcard certificate is refused (RFC 6125 without wildcards), with the server seeing the alert")
    func wildcardRefused() throws {
        let factory = try CertificateFactory()
        defer { factory.remove() }
        let ca = try factory.certificateAuthority("ca")
        let leaf = try factory.leaf("wild", altNames: "DNS:*.example.test", issuer: ca)
        let server = try OneShotServer(context: try TLSServerContext(certificateChainFile: leaf.certificate, privateKeyFile: leaf.key))
        let client = try TLSClientContext(trust: .certificateAuthorities(file: ca.certificate), serverIdentity: hacName)
        let (error, serverOutcome) = try expectClientFailure(.verification, client: client, server: server)
        #expect(error.detail == "hostname mismatch", "\(error)")
        guard case .failure(let serverError) = serverOutcome else {
            Issue.record("server finished the handshake: \(String(describing: serverOutcome))")
            return
        }
        #expect(serverError.kind == .handshake || serverError.kind == .peerClosed, "\(serverError)")
    }

    @Test("A certificate for another name, or only a CN, is refused")
    func otherNameRefused() throws {
        let factory = try CertificateFactory()
        defer { factory.remove() }
        let ca = try factory.certificateAuthority("ca")
        let leaf = try factory.leaf("other", altNames: "DNS:other.example.test", issuer: ca)
        let server = try OneShotServer(context: try TLSServerContext(certificateChainFile: leaf.certificate, privateKeyFile: leaf.key))
        let client = try TLSClientContext(trust: .certificateAuthorities(file: ca.certificate), serverIdentity: hacName)
        let (error, _) = try expectClientFailure(.verification, client: client, server: server)
        #expect(error.detail == "hostname mismatch", "\(error)")
        #expect(error.description.contains("certificate verification failed"))

        // Subject CN hac.example.test but no matching subjectAltName: §9.2 wants the SAN.
        let cnOnly = try factory.leaf("hac.example.test", altNames: "DNS:elsewhere.example.test", issuer: ca)
        let server2 = try OneShotServer(context: try TLSServerContext(certificateChainFile: cnOnly.certificate, privateKeyFile: cnOnly.key))
        let (error2, _) = try expectClientFailure(.verification, client: client, server: server2)
        #expect(error2.detail == "hostname mismatch", "\(error2)")
    }

    @Test("A man in the middle with a valid-looking certificate from another CA fails verification")
    func manInTheMiddle() throws {
        let factory = try CertificateFactory()
        defer { factory.remove() }
        let ca = try factory.certificateAuthority("ca")
        let rogue = try factory.certificateAuthority("rogue-ca")
        let leaf = try factory.leaf("mitm", altNames: "DNS:hac.example.test,IP:127.0.0.1", issuer: rogue)
        let server = try OneShotServer(context: try TLSServerContext(certificateChainFile: leaf.certificate, privateKeyFile: leaf.key))
        let client = try TLSClientContext(trust: .certificateAuthorities(file: ca.certificate), serverIdentity: hacName)
        let (error, _) = try expectClientFailure(.verification, client: client, server: server)
        #expect(error.detail == "unable to get local issuer certificate", "\(error)")
        print("MITM refused: \(error)")
    }

    @Test("A pinned self-signed certificate: accepted when pinned, refused against a CA or another pin")
    func pinned() throws {
        let factory = try CertificateFactory()
        defer { factory.remove() }
        let ca = try factory.certificateAuthority("ca")
        let pin = try factory.leaf("pinned", altNames: "DNS:hac.example.test", issuer: nil)
        let other = try factory.leaf("other", altNames: "DNS:hac.example.test", issuer: nil)
        let context = try TLSServerContext(certificateChainFile: pin.certificate, privateKeyFile: pin.key)

        let server = try OneShotServer(context: context)
        let session = try TLSClientContext(trust: .pinnedCertificate(file: pin.certificate), serverIdentity: hacName)
            .connect(to: server.address, deadline: .after(seconds: 10))
        _ = server.join()
        #expect(session.peerCertificate == (try factory.der(pin.certificate)))
        #expect(session.tlsServerEndPoint == (try factory.digest(pin.certificate, "sha256")))

        let (error, _) = try expectClientFailure(
            .verification, client: try TLSClientContext(trust: .certificateAuthorities(file: ca.certificate), serverIdentity: hacName),
            server: try OneShotServer(context: context))
        #expect(error.detail == "self-signed certificate", "\(error)")

        let (error2, _) = try expectClientFailure(
            .verification, client: try TLSClientContext(trust: .pinnedCertificate(file: other.certificate), serverIdentity: hacName),
            server: try OneShotServer(context: context))
        #expect(error2.detail == "self-signed certificate", "\(error2)")

        // The pin still needs the right name.
        let (error3, _) = try expectClientFailure(
            .verification,
            client: try TLSClientContext(trust: .pinnedCertificate(file: pin.certificate), serverIdentity: .dnsName("hac2.example.test")),
            server: try OneShotServer(context: context))
        #expect(error3.detail == "hostname mismatch", "\(error3)")
    }

    @Test("Deadlines: a server that never answers, a client that never speaks, a read with nothing to read")
    func timeouts() throws {
        let factory = try CertificateFactory()
        defer { factory.remove() }
        let ca = try factory.certificateAuthority("ca")
        let leaf = try factory.leaf("hac", altNames: "DNS:hac.example.test", issuer: ca)
        let client = try TLSClientContext(trust: .certificateAuthorities(file: ca.certificate), serverIdentity: hacName)

        // The kernel completes the TCP handshake from the backlog; nobody ever accepts or answers.
        let silent = try TCPListener(address: SocketAddress(loopback4, port: 0))
        let silentAddress = try silent.localAddress()
        let start = monotonicNanoseconds()
        do {
            _ = try client.connect(to: silentAddress, deadline: .after(seconds: 0.5))
            Issue.record("handshake with a silent server succeeded")
        } catch {
            #expect(error.kind == .timeout, "\(error)")
            #expect(error.description.contains("timed out"))
        }
        let elapsed = Double(monotonicNanoseconds() - start) / 1e9
        #expect(elapsed >= 0.45 && elapsed < 5, "took \(elapsed) s")

        // A client that connects and never speaks: the server's deadline fires.
        let context = try TLSServerContext(certificateChainFile: leaf.certificate, privateKeyFile: leaf.key)
        let server = try OneShotServer(context: context, timeout: 0.5)
        let mute = try TCPConnection.connect(to: server.address, deadline: .after(seconds: 5))
        let outcome = server.join()
        guard case .failure(let serverError) = outcome else {
            Issue.record("server outcome \(String(describing: outcome))")
            return
        }
        #expect(serverError.kind == .timeout, "\(serverError)")
        _ = mute

        // After the handshake: a read the server never answers, then the server closing.
        let server2 = try OneShotServer(context: context) { session, deadline throws(TLSError) in
            usleep(700_000)
            try session.shutdown(deadline: deadline)
            return ""
        }
        let session = try client.connect(to: server2.address, deadline: .after(seconds: 10))
        do {
            _ = try session.readExactly(1, deadline: .after(seconds: 0.3))
            Issue.record("read returned data")
        } catch {
            #expect(error.kind == .timeout, "\(error)")
        }
        do {
            _ = try session.readExactly(1, deadline: .after(seconds: 10))
            Issue.record("read returned data")
        } catch {
            #expect(error.kind == .peerClosed, "\(error)")
        }
        // Our close_notify answers the server's, which is waiting for it in its shutdown.
        try session.shutdown(deadline: .after(seconds: 10))
        #expect(server2.join() == .success(""))
    }

    @Test("openssl s_client connects to the server and reports TLS 1.3 and a verified certificate")
    func opensslClient() throws {
        let factory = try CertificateFactory()
        defer { factory.remove() }
        let ca = try factory.certificateAuthority("ca")
        let leaf = try factory.leaf("hac", altNames: "DNS:hac.example.test,IP:127.0.0.1", issuer: ca)
        let server = try OneShotServer(context: try TLSServerContext(certificateChainFile: leaf.certificate, privateKeyFile: leaf.key)) {
            session, deadline throws(TLSError) in
            do throws(TLSError) {
                _ = try session.readExactly(1, deadline: deadline)
            } catch where error.kind == .peerClosed {
            }
            return session.protocolVersion
        }
        let (status, output) = try execute(
            ["timeout", "15", "openssl", "s_client", "-connect", "\(server.address)", "-brief", "-CAfile", ca.certificate,
             "-verify_hostname", "hac.example.test", "-verify_return_error"], timeout: 20)
        let outcome = server.join()
        #expect(status == 0, "\(output)")
        #expect(output.contains("Protocol version: TLSv1.3"), "\(output)")
        #expect(output.contains("Verification: OK"), "\(output)")
        #expect(output.contains("hac"), "\(output)")
        #expect(outcome == .success("TLSv1.3"))
    }

    @Test("Key files must be root-only; errors never show key material")
    func keyFilePermissions() throws {
        let factory = try CertificateFactory()
        defer { factory.remove() }
        let ca = try factory.certificateAuthority("ca")
        let leaf = try factory.leaf("hac", altNames: "DNS:hac.example.test", issuer: ca)
        chmod(leaf.key, 0o644)
        do {
            _ = try TLSServerContext(certificateChainFile: leaf.certificate, privateKeyFile: leaf.key)
            Issue.record("a mode 0644 key file was accepted")
        } catch {
            #expect(error.kind == .configuration)
            #expect(error.description.contains("mode 0644") && error.description.contains("chmod 600"), "\(error)")
        }
        chmod(leaf.key, 0o600)
        _ = try TLSServerContext(certificateChainFile: leaf.certificate, privateKeyFile: leaf.key)

        let broken = factory.path("broken.key")
        try "-----BEGIN PRIVATE KEY-----\nU0VDUkVUU0VDUkVUU0VDUkVU\n-----END PRIVATE KEY-----\n"
            .write(toFile: broken, atomically: true, encoding: .utf8)
        chmod(broken, 0o600)
        do {
            _ = try TLSServerContext(certificateChainFile: leaf.certificate, privateKeyFile: broken)
            Issue.record("a broken key was accepted")
        } catch {
            #expect(error.kind == .configuration)
            #expect(!error.description.contains("U0VDUkVU"), "\(error)")
        }
        // The key of another certificate.
        let other = try factory.leaf("other", altNames: "DNS:hac.example.test", issuer: ca)
        #expect(throws: TLSError.self) {
            try TLSServerContext(certificateChainFile: leaf.certificate, privateKeyFile: other.key)
        }
    }
}
