import Foundation
import TernOS
import Testing

@Suite("Control socket (tern status)")
struct ControlSocketTests {
    private func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("tern-cs-\(UUID().uuidString.prefix(8)).sock").path
    }

    @Test("root-only, one reply per connection, refused while another server answers, removed when done")
    func lifecycle() throws {
        let path = temporaryPath()
        var server: ControlSocketServer? = try ControlSocketServer(path: path)
        var status = stat()
        #expect(stat(path, &status) == 0 && status.st_mode & 0o777 == 0o600)
        let second = #expect(throws: SystemCallError.self) { try ControlSocketServer(path: path) }
        #expect(second?.errno == EADDRINUSE)

        // Two connections wait: the refused server's probe (already closed), then the client.
        let reply = Thread { [weak server] in
            for _ in 0..<2 {
                guard let connection = try? server?.accept(deadline: .after(seconds: 5)) else { return }
                let text = Array("{\"role\":\"test\"}".utf8)
                try? text.withUnsafeBytes { try connection.write($0, deadline: .after(seconds: 2)) }
                try? connection.shutdownWrite()
            }
        }
        reply.start()
        let answer = try ControlSocketClient.request(path: path, deadline: .after(seconds: 5))
        #expect(String(decoding: answer, as: UTF8.self) == "{\"role\":\"test\"}")

        let deadline = Date().addingTimeInterval(5)
        while !reply.isFinished && Date() < deadline { usleep(10_000) }
        #expect(throws: SystemCallError.self) { try server?.accept(deadline: .after(seconds: 0.05)) }
        server = nil
        #expect(!FileManager.default.fileExists(atPath: path), "the socket file goes with the server")
        #expect(throws: SystemCallError.self) { try ControlSocketClient.request(path: path, deadline: .after(seconds: 1)) }
    }

    @Test("a stale socket file from a crashed run is replaced; a regular file or an over-long path is refused")
    func staleAndInvalid() throws {
        let path = temporaryPath()
        // A socket bound and closed without unlinking: what a killed daemon leaves.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, octet) in path.utf8.enumerated() { raw[index] = octet }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        close(fd)
        _ = try ControlSocketServer(path: path)

        let file = temporaryPath()
        _ = FileManager.default.createFile(atPath: file, contents: Data("not a socket".utf8))
        defer { unlink(file) }
        #expect(throws: SystemCallError.self) { try ControlSocketServer(path: file) }
        #expect(throws: SystemCallError.self) { try ControlSocketServer(path: "/tmp/" + String(repeating: "x", count: 200)) }
    }
}

/// The control socket's request line (issue 13 item 7).
@Suite("ControlRequest")
struct ControlRequestTests {
    @Test("status, empty (older clients) and revoke parse; anything else does not")
    func parse() {
        #expect(ControlRequest.parse(Array("status\n".utf8)) == .status)
        #expect(ControlRequest.parse([UInt8]()) == .status)
        #expect(ControlRequest.parse(Array("revoke laptop@example.test\n".utf8)) == .revoke(identity: "laptop@example.test"))
        #expect(ControlRequest.parse(Array("revoke \n".utf8)) == nil)
        #expect(ControlRequest.parse(Array("revoke two words\n".utf8)) == nil)
        #expect(ControlRequest.parse(Array("reboot\n".utf8)) == nil)
        #expect(ControlRequest.parse([0xFF, 0x0A]) == nil)
        #expect(ControlRequest.parse(Array(("revoke " + String(repeating: "a", count: 600)).utf8)) == nil)
        for request in [ControlRequest.status, .revoke(identity: "m@x")] {
            #expect(ControlRequest.parse(Array((request.line + "\n").utf8)) == request)
        }
    }
}
