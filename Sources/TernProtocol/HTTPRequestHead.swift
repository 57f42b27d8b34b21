/// The head of an HTTP/1.x request (RFC 9112 §2–3): the only HTTP Tern speaks, on its metrics endpoint.
/// Pure: bytes in, a verdict out; the caller owns the socket, the size limit and the deadline.
///
/// Strict where strictness costs nothing: the request line must be `METHOD SP target SP HTTP/1.x`, every
/// line visible ASCII (header values may hold spaces and tabs), each header line `name: value`. Lines end
/// in CRLF or a bare LF (RFC 9112 §2.2 allows a recipient to accept LF). Empty lines before the request
/// line are skipped (§2.2). A request line that already shows a byte no request line may hold is refused
/// at once, so that a TLS handshake or binary noise sent to the port is answered without waiting for more.
public struct HTTPRequestHead: Sendable, Hashable {
    /// The method token, case-sensitive (`GET`).
    public var method: String
    /// The request target as sent (`/metrics`, `/metrics?x=1`).
    public var target: String
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    public var minorVersion: Int

    public init(method: String, target: String, minorVersion: Int) {
        self.method = method
        self.target = target
        self.minorVersion = minorVersion
    }

    /// The target's path: everything before `?`.
    public var path: Substring { target.prefix { $0 != "?" } }

    /// Longest method accepted (the registered ones have at most 7 characters).
    public static let maximumMethodLength = 16

    /// What the octets received so far amount to.
    public enum Parse: Sendable, Hashable {
        /// More octets are needed (the empty line that ends the head has not arrived).
        case incomplete
        /// A whole head: the request, and the octets it took (the body, if any, follows).
        case complete(HTTPRequestHead, length: Int)
        /// Not an HTTP/1.x request head; the reason is for the log, never echoes the input.
        case malformed(String)
    }

    /// Parses the head at the start of `bytes`.
    public static func parse(_ bytes: some Collection<UInt8>) -> Parse {
        let octets = Array(bytes)
        var start = 0
        // Empty lines before the request line (§2.2).
        while start < octets.count, octets[start] == 0x0D || octets[start] == 0x0A {
            if octets[start] == 0x0D, start + 1 < octets.count, octets[start + 1] != 0x0A { return .malformed("bare CR") }
            start += 1
        }
        guard let requestLine = line(in: octets, from: start) else {
            // Refuse early what can never become a request line.
            if let bad = octets[start...].firstIndex(where: { !isRequestLineOctet($0) && $0 != 0x0D }) {
                return .malformed("octet 0x\(hex(octets[bad])) in the request line")
            }
            return .incomplete
        }
        guard let head = parseRequestLine(octets[requestLine.content]) else {
            return .malformed("not a request line (METHOD SP target SP HTTP/1.x)")
        }
        var position = requestLine.next
        while true {
            guard let header = line(in: octets, from: position) else {
                if let bad = octets[position...].firstIndex(where: { !isFieldOctet($0) && $0 != 0x0D }) {
                    return .malformed("octet 0x\(hex(octets[bad])) in a header line")
                }
                return .incomplete
            }
            if header.content.isEmpty { return .complete(head, length: header.next) }
            guard isHeaderLine(octets[header.content]) else { return .malformed("header line is not 'name: value'") }
            position = header.next
        }
    }

    /// The line starting at `start`: its content without CR LF, and where the next line starts; nil when
    /// no LF has arrived yet. A CR anywhere but just before the LF makes the content invalid for the
    /// callers' checks (CR is neither a field nor a request-line octet).
    private static func line(in octets: [UInt8], from start: Int) -> (content: Range<Int>, next: Int)? {
        guard start <= octets.count, let lf = octets[start...].firstIndex(of: 0x0A) else { return nil }
        let end = lf > start && octets[lf - 1] == 0x0D ? lf - 1 : lf
        return (start..<end, lf + 1)
    }

    private static func parseRequestLine(_ line: ArraySlice<UInt8>) -> HTTPRequestHead? {
        let parts = line.split(separator: 0x20, omittingEmptySubsequences: false)
        guard parts.count == 3, let method = parts.first, let target = parts.dropFirst().first, let version = parts.last,
            (1...maximumMethodLength).contains(method.count), method.allSatisfy(isTokenOctet),
            !target.isEmpty, target.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        else { return nil }
        let minor: Int
        switch Array(version) {
        case Array("HTTP/1.0".utf8): minor = 0
        case Array("HTTP/1.1".utf8): minor = 1
        default: return nil
        }
        return HTTPRequestHead(
            method: String(decoding: method, as: UTF8.self), target: String(decoding: target, as: UTF8.self),
            minorVersion: minor)
    }

    /// `field-name ":" OWS field-value OWS` (RFC 9110 §5.1, RFC 9112 §5): no space before the colon.
    private static func isHeaderLine(_ line: ArraySlice<UInt8>) -> Bool {
        guard let colon = line.firstIndex(of: 0x3A), colon > line.startIndex else { return false }
        return line[..<colon].allSatisfy(isTokenOctet) && line[(colon + 1)...].allSatisfy(isFieldOctet)
    }

    /// tchar (RFC 9110 §5.6.2).
    private static func isTokenOctet(_ octet: UInt8) -> Bool {
        switch octet {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true
        default: Array("!#$%&'*+-.^_`|~".utf8).contains(octet)
        }
    }

    private static func isRequestLineOctet(_ octet: UInt8) -> Bool { octet >= 0x20 && octet < 0x7F }

    /// Visible ASCII, space and horizontal tab; obs-text (0x80–0xFF) is refused.
    private static func isFieldOctet(_ octet: UInt8) -> Bool { (octet >= 0x20 && octet < 0x7F) || octet == 0x09 }

    private static func hex(_ octet: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(octet >> 4)], digits[Int(octet & 0x0F)]])
    }
}

/// An HTTP/1.1 response as the metrics endpoint sends it: status line, Content-Type, Content-Length,
/// `Connection: close`, and the body (left out for HEAD).
public struct HTTPResponse: Sendable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]
    /// More header lines, e.g. `("Allow", "GET, HEAD")`.
    public var headers: [(String, String)]

    public init(
        status: Int, contentType: String = "text/plain; charset=utf-8", body: [UInt8], headers: [(String, String)] = []
    ) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.headers = headers
    }

    /// A short plain-text response whose body is the reason phrase.
    public init(status: Int, headers: [(String, String)] = []) {
        self.init(status: status, body: Array((Self.reasonPhrase(status) + "\n").utf8), headers: headers)
    }

    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 400: "Bad Request"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 503: "Service Unavailable"
        default: "Status \(status)"
        }
    }

    /// The octets on the wire; `includeBody` false for a HEAD request (Content-Length still tells the size).
    public func encoded(includeBody: Bool = true) -> [UInt8] {
        var head = "HTTP/1.1 \(status) \(Self.reasonPhrase(status))\r\n"
        head += "Content-Type: \(contentType)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        return Array(head.utf8) + (includeBody ? body : [])
    }
}
