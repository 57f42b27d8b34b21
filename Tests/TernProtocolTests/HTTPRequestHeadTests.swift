import Testing
import TernProtocol
import TernTestSupport

private func parse(_ text: String) -> HTTPRequestHead.Parse { HTTPRequestHead.parse(Array(text.utf8)) }

private func isMalformed(_ result: HTTPRequestHead.Parse) -> Bool {
    if case .malformed = result { return true }
    return false
}

@Suite("HTTP request head (the metrics endpoint, RFC 9112 §2–3)")
struct HTTPRequestHeadTests {
    @Test("what Prometheus and curl send parses, with its length; LF-only lines and leading empty lines too")
    func wellFormed() {
        let prometheus = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9587\r\nUser-Agent: Prometheus/2.45.0\r\n"
            + "Accept: text/plain;version=0.0.4;q=1,*/*;q=0.1\r\nAccept-Encoding: gzip\r\n"
            + "X-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n"
        #expect(
            parse(prometheus)
                == .complete(HTTPRequestHead(method: "GET", target: "/metrics", minorVersion: 1), length: prometheus.utf8.count))
        #expect(parse("HEAD /metrics?x=1 HTTP/1.0\n\n") == .complete(.init(method: "HEAD", target: "/metrics?x=1", minorVersion: 0), length: 28))
        #expect(parse("\r\nGET / HTTP/1.1\r\n\r\nbody") == .complete(.init(method: "GET", target: "/", minorVersion: 1), length: 20))
        let head = HTTPRequestHead(method: "GET", target: "/metrics?name[]=up", minorVersion: 1)
        #expect(head.path == "/metrics")
        // Header values may hold spaces and tabs.
        #expect(parse("GET /metrics HTTP/1.1\r\nA: b\tc d\r\n\r\n") == .complete(.init(method: "GET", target: "/metrics", minorVersion: 1), length: 35))
    }

    @Test("every proper prefix of a request is incomplete, never malformed")
    func prefixes() {
        let request = Array("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        for cut in 0..<request.count {
            #expect(HTTPRequestHead.parse(request.prefix(cut)) == .incomplete, "cut at \(cut)")
        }
    }

    @Test(
        "malformed heads are refused, with a reason that never repeats the input",
        arguments: [
            "GET /metrics\r\n\r\n",  // no version
            "GET /metrics HTTP/2.0\r\n\r\n",
            "GET /metrics HTTP/1.1 extra\r\n\r\n",
            "GET  /metrics HTTP/1.1\r\n\r\n",  // two spaces
            "G(T /metrics HTTP/1.1\r\n\r\n",  // not a token
            "GETGETGETGETGETGETGET / HTTP/1.1\r\n\r\n",  // method too long
            "GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n",
            "GET /metrics HTTP/1.1\r\n: empty name\r\n\r\n",
            "GET /metrics HTTP/1.1\r\nName : space before colon\r\n\r\n",
            "GET /metrics HTTP/1.1\r\nA: b\rc\r\n\r\n",  // bare CR inside a value
            "GET /met\u{7F}rics HTTP/1.1\r\n\r\n",
            "\rGET / HTTP/1.1\r\n\r\n",
        ])
    func malformed(text: String) {
        let result = parse(text)
        #expect(isMalformed(result), "\(result)")
        if case .malformed(let reason) = result { #expect(!reason.contains("metrics")) }
    }

    @Test("binary noise and a TLS ClientHello are refused at once, before any line ends")
    func earlyRefusal() {
        // The first octets of a TLS 1.3 ClientHello record.
        #expect(isMalformed(HTTPRequestHead.parse([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])))
        #expect(isMalformed(HTTPRequestHead.parse([0x47, 0x45, 0x54, 0x00])))
        #expect(isMalformed(parse("GET /metrics HTTP/1.1\r\nHost: \u{1}")))
        #expect(isMalformed(HTTPRequestHead.parse(Array("GET / HTTP/1.1\r\nA: ".utf8) + [0xC3, 0xA9])))
    }

    @Test("random octets never trap (seeded)")
    func fuzz() {
        var random = SeededRandom(seed: 0x5EED_4E77)
        let alphabet = Array("GET /metrics HTTP/1.1\r\n: \t".utf8) + [0, 0x7F, 0xFF, 0x0A, 0x0D]
        for _ in 0..<20_000 {
            let length = Int.random(in: 0...64, using: &random)
            let octets = (0..<length).map { _ in
                Bool.random(using: &random) ? alphabet.randomElement(using: &random) ?? 0 : UInt8.random(in: 0...255, using: &random)
            }
            if case .complete(_, let length) = HTTPRequestHead.parse(octets) { #expect(length <= octets.count) }
        }
    }

    @Test("responses: status line, Content-Type, Content-Length, Connection: close; HEAD leaves the body out")
    func responses() {
        let ok = HTTPResponse(status: 200, contentType: "text/plain; version=0.0.4", body: Array("a 1\n".utf8))
        #expect(
            String(decoding: ok.encoded(), as: UTF8.self)
                == "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: 4\r\nConnection: close\r\n\r\na 1\n")
        #expect(String(decoding: ok.encoded(includeBody: false), as: UTF8.self).hasSuffix("Content-Length: 4\r\nConnection: close\r\n\r\n"))
        let refused = HTTPResponse(status: 405, headers: [("Allow", "GET, HEAD")])
        #expect(String(decoding: refused.encoded(), as: UTF8.self).contains("HTTP/1.1 405 Method Not Allowed\r\n"))
        #expect(String(decoding: refused.encoded(), as: UTF8.self).contains("Allow: GET, HEAD\r\n"))
    }
}
