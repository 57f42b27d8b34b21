import Foundation
import Synchronization
import TernOS
import TernProtocol
import Testing

/// The metrics endpoint's HTTP responder over loopback: real sockets, real thread.
@Suite("Metrics HTTP server (loopback)", .serialized)
struct MetricsHTTPServerTests {
    static let body = Array("# TYPE tern_up gauge\ntern_up 1\n".utf8)

    private final class Renders: Sendable {
        let count = Atomic<Int>(0)
    }

    /// A started server on 127.0.0.1 and a kernel-chosen port; stopped by the caller.
    private func startServer(_ renders: Renders = Renders()) throws -> (MetricsHTTPServer, SocketAddress) {
        let server = try MetricsHTTPServer(address: SocketAddress(.v4(IPv4Address(127, 0, 0, 1)), port: 0))
        try server.start(render: {
            renders.count.add(1, ordering: .relaxed)
            return Self.body
        })
        return (server, server.localAddress())
    }

    /// Sends `request` (in pieces of `chunk` octets) and reads until the server closes; at most `seconds`.
    private func exchange(
        _ address: SocketAddress, _ request: [UInt8], chunk: Int = .max, seconds: Double = 5
    ) throws -> String {
        let connection = try TCPConnection.connect(to: address, deadline: .after(seconds: seconds))
        var offset = 0
        while offset < request.count {
            let piece = Array(request[offset..<min(request.count, offset + chunk)])
            try piece.withUnsafeBytes { try connection.write($0, deadline: .after(seconds: seconds)) }
            offset += piece.count
            if chunk < request.count { usleep(2_000) }
        }
        return try readAll(connection, seconds: seconds)
    }

    private func readAll(_ connection: TCPConnection, seconds: Double) throws -> String {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        let deadline = Deadline.after(seconds: seconds)
        while true {
            let count = try buffer.withUnsafeMutableBytes { try connection.read(into: $0, deadline: deadline) }
            if count == 0 { break }
            received += buffer[..<count]
        }
        return String(decoding: received, as: UTF8.self)
    }

    private func request(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test("GET /metrics: 200, the exposition content type and the rendered body; HEAD: the head only")
    func metrics() throws {
        let renders = Renders()
        let (server, address) = try startServer(renders)
        defer { server.stop() }
        let response = try exchange(address, request("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"))
        #expect(response.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(response)")
        #expect(response.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"))
        #expect(response.contains("Content-Length: \(Self.body.count)\r\n"))
        #expect(response.hasSuffix("\r\n\r\n" + String(decoding: Self.body, as: UTF8.self)))
        let head = try exchange(address, request("HEAD /metrics HTTP/1.0\r\n\r\n"))
        #expect(head.hasPrefix("HTTP/1.1 200 OK\r\n") && head.hasSuffix("Connection: close\r\n\r\n"), "\(head)")
        // One octet at a time: the head is put together across reads.
        let slow = try exchange(address, request("GET /metrics?a=b HTTP/1.1\r\nHost: x\r\n\r\n"), chunk: 1)
        #expect(slow.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(slow)")
        #expect(renders.count.load(ordering: .relaxed) == 3)
    }

    @Test("other paths 404, other methods 405 with Allow, malformed 400, an over-long head 431")
    func refusals() throws {
        let renders = Renders()
        let (server, address) = try startServer(renders)
        defer { server.stop() }
        #expect(try exchange(address, request("GET / HTTP/1.1\r\n\r\n")).hasPrefix("HTTP/1.1 404 Not Found\r\n"))
        #expect(try exchange(address, request("GET /metrics/x HTTP/1.1\r\n\r\n")).hasPrefix("HTTP/1.1 404 "))
        let post = try exchange(address, request("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n"))
        #expect(post.hasPrefix("HTTP/1.1 405 Method Not Allowed\r\n") && post.contains("Allow: GET, HEAD\r\n"), "\(post)")
        #expect(try exchange(address, request("GET /metrics HTTP/9.9\r\n\r\n")).hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        let long = "GET /metrics HTTP/1.1\r\n" + String(repeating: "X-Padding: \(String(repeating: "a", count: 100))\r\n", count: 90)
        #expect(long.utf8.count > MetricsHTTPServer.maximumRequestLength)
        #expect(try exchange(address, request(long)).hasPrefix("HTTP/1.1 431 "))
        #expect(renders.count.load(ordering: .relaxed) == 0, "nothing but GET/HEAD /metrics renders")
    }

    @Test("a TLS ClientHello or binary noise is answered 400 at once, not at the deadline")
    func binaryNoise() throws {
        let (server, address) = try startServer()
        defer { server.stop() }
        let started = Date()
        let response = try exchange(address, [0x16, 0x03, 0x01, 0x00, 0xF4, 0x01, 0x00, 0x00, 0xF0, 0x03, 0x03])
        #expect(response.hasPrefix("HTTP/1.1 400 "), "\(response)")
        #expect(Date().timeIntervalSince(started) < 1)
        var random = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            let noise = (0..<Int.random(in: 1...600, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            // Whatever comes back (400, 431 or a close), the server keeps serving.
            _ = try? exchange(address, noise, seconds: 3)
        }
        #expect(try exchange(address, request("GET /metrics HTTP/1.1\r\n\r\n")).hasPrefix("HTTP/1.1 200 "))
    }

    @Test("a client that never finishes its request is closed at the deadline, unanswered")
    func deadline() throws {
        let (server, address) = try startServer()
        defer { server.stop() }
        let started = Date()
        let response = try exchange(address, request("GET /metrics HTTP/1.1\r\nHost:"), seconds: 6)
        let elapsed = Date().timeIntervalSince(started)
        #expect(response.isEmpty, "\(response)")
        #expect(elapsed >= MetricsHTTPServer.connectionSeconds - 0.1 && elapsed < MetricsHTTPServer.connectionSeconds + 2, "\(elapsed)")
    }

    @Test("at most maximumConnections at once: one more waits until a slot frees")
    func connectionLimit() throws {
        let (server, address) = try startServer()
        defer { server.stop() }
        let idle = try (0..<MetricsHTTPServer.maximumConnections).map { _ in
            try TCPConnection.connect(to: address, deadline: .after(seconds: 2))
        }
        usleep(100_000)  // accepted, all of them
        let waiting = try TCPConnection.connect(to: address, deadline: .after(seconds: 2))
        try request("GET /metrics HTTP/1.1\r\n\r\n").withUnsafeBytes { try waiting.write($0, deadline: .after(seconds: 2)) }
        var buffer = [UInt8](repeating: 0, count: 64)
        #expect(throws: SystemCallError.self, "answered while the server is full") {
            _ = try buffer.withUnsafeMutableBytes { try waiting.read(into: $0, deadline: .after(seconds: 0.3)) }
        }
        try idle[0].shutdownWrite()  // end of stream: the server closes that one and accepts the next
        let started = Date()
        #expect(try readAll(waiting, seconds: 2).hasPrefix("HTTP/1.1 200 "))
        #expect(Date().timeIntervalSince(started) < 1)
        _ = idle
    }

    @Test("idle, the thread sleeps: no wake-up without a client; stop ends it with connections open")
    func idleAndStop() throws {
        let (server, address) = try startServer()
        usleep(1_000_000)
        #expect(server.wakeUps == 0, "woke \(server.wakeUps) times with nothing to do")
        _ = try exchange(address, request("GET /metrics HTTP/1.1\r\n\r\n"))
        let afterScrape = server.wakeUps
        usleep(1_000_000)
        #expect(server.wakeUps == afterScrape, "woke after the scrape had been answered")
        let open = try TCPConnection.connect(to: address, deadline: .after(seconds: 2))
        let started = Date()
        server.stop()
        #expect(Date().timeIntervalSince(started) < 1)
        #expect(try readAll(open, seconds: 2).isEmpty, "the open connection is closed by the stop")
        #expect(throws: SystemCallError.self) { try TCPConnection.connect(to: address, deadline: .after(seconds: 1)) }
        server.stop()  // idempotent
    }
}
