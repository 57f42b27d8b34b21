import Glibc
import Logging
import TernDaemon
import TernOS
import TernProtocol
import Testing

@Suite("Daemon pieces: the signal loop's decisions, the control socket's replies, SA validity ends")
struct DaemonRunLoopTests {
    @Test("SIGHUP reloads, SIGTERM and SIGINT stop and are named, anything else is ignored")
    func actions() {
        #expect(DaemonRunLoop.action(for: SIGHUP) == .reload)
        #expect(DaemonRunLoop.action(for: SIGTERM) == .stop("SIGTERM"))
        #expect(DaemonRunLoop.action(for: SIGINT) == .stop("SIGINT"))
        #expect(DaemonRunLoop.action(for: SIGUSR1) == .ignore)
        #expect(DaemonRunLoop.timeout(statusFile: nil) == -1, "idle is idle: no status file, no timer")
        #expect(DaemonRunLoop.timeout(statusFile: "/run/tern/ha.json") == DaemonRunLoop.statusInterval)
    }

    @Test("the control socket answers status with the report's JSON, revoke with its line, the rest with an error")
    func replies() throws {
        let report = { StatusReport(role: "home-agent", counters: .init(), bindings: []) }
        let status = StatusServer.reply(to: .status, report: report, revoke: nil)
        #expect(try StatusReport(json: status).role == "home-agent")
        #expect(
            String(decoding: StatusServer.reply(to: .revoke(identity: "a@example.test"), report: report, revoke: { "revoked \($0)" }), as: UTF8.self)
                == "revoked a@example.test\n")
        #expect(
            String(decoding: StatusServer.reply(to: .revoke(identity: "a@example.test"), report: report, revoke: nil), as: UTF8.self)
                == "error: this daemon revokes nothing (no controller)\n")
        #expect(String(decoding: StatusServer.reply(to: nil, report: report, revoke: nil), as: UTF8.self) == "error: unknown request\n")
    }

    @Test("the control socket serves a client over a real Unix socket and stops")
    func server() throws {
        let path = "/tmp/tern-daemon-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        let server = try StatusServer(
            path: path, report: { StatusReport(role: "mobile-node", counters: .init(), bindings: []) },
            logger: quietLogger)
        defer { server.stop() }
        let reply = try ControlSocketClient.request(path: path, deadline: .after(seconds: 5))
        #expect(try StatusReport(json: reply).role == "mobile-node")
        let revoke = try ControlSocketClient.request(path: path, deadline: .after(seconds: 5), request: .revoke(identity: "x@example.test"))
        #expect(String(decoding: revoke, as: UTF8.self).hasPrefix("error: this daemon revokes nothing"))
    }

    @Test("validity ends: seconds left from a given now; ended SAs are forgotten when another is set")
    func validityEnds() {
        let ends = ValidityEnds()
        ends.set(nil, for: 1, now: 0)
        #expect(ends.count == 0)
        ends.set(100, for: 1, now: 0)
        ends.set(500, for: 2, now: 0)
        #expect(ends.secondsLeft(for: 1, now: 40) == 60)
        #expect(ends.secondsLeft(for: 3, now: 40) == nil)
        ends.set(900, for: 3, now: 200)
        #expect(ends.count == 2, "SPI 1 ended at 100")
        #expect(ends.secondsLeft(for: 1, now: 200) == nil)
    }
}
