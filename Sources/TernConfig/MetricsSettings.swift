public import TernProtocol

/// `metrics:` in either daemon's config: the Prometheus endpoint. Absent: no endpoint, no socket. Present
/// (even empty): on, on loopback unless `listen` says otherwise.
public struct MetricsSettings: Sendable, Hashable, CustomStringConvertible {
    /// `metrics.listen`: `address:port`, IPv6 in brackets (`"[::1]:9588"`, quoted in YAML).
    public var address: IPAddress
    public var port: UInt16

    /// The defaults when `metrics:` has no `listen`: loopback, a port per role so both daemons can run on
    /// one machine.
    public static let homeAgentDefault = MetricsSettings(address: .v4(IPv4Address(127, 0, 0, 1)), port: 9587)
    public static let mobileNodeDefault = MetricsSettings(address: .v4(IPv4Address(127, 0, 0, 1)), port: 9588)

    public init(address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    /// 127.0.0.0/8 or ::1: only this machine can scrape. Anything else is allowed, and warned about at start.
    public var isLoopback: Bool {
        switch address {
        case .v4(let v4): v4.rawValue >> 24 == 127
        case .v6(let v6): v6 == IPv6Address(high: 0, low: 1)
        }
    }

    /// `127.0.0.1:9587`, `[::1]:9588`.
    public var description: String { address.isIPv4 ? "\(address):\(port)" : "[\(address)]:\(port)" }
}

extension YAMLMapping {
    static let metricsFields = ["listen"]

    /// `metrics:` if the key is there at all (`metrics:` alone turns the endpoint on with `defaults`).
    func metricsSettings(defaults: MetricsSettings) throws(ConfigurationError) -> MetricsSettings? {
        guard entries.contains(where: { $0.key == "metrics" }) else { return nil }
        let section = try self.section("metrics", allowed: Self.metricsFields)
        return try section.optional("listen")?.listenAddress() ?? defaults
    }
}

extension YAMLField {
    /// `address:port`, with IPv6 addresses in brackets.
    func listenAddress() throws(ConfigurationError) -> MetricsSettings {
        let example = "write address:port, e.g. 127.0.0.1:9587 or \"[::1]:9587\" (quoted)"
        if case .sequence = node {
            throw valueError("quote an IPv6 address and port: \"[::1]:9587\" (unquoted brackets are a YAML list)")
        }
        let text = try scalar("address:port")
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw valueError("\(shown(text)) is not address:port; \(example)")
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
            guard IPv6Address(host) != nil else { throw valueError("\(shown(String(host))) is not an IPv6 address") }
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw valueError("\(shown(text)) has no port; \(example)") }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { throw valueError("\(shown(text)): put an IPv6 address in brackets; \(example)") }
            guard IPv4Address(host) != nil else { throw valueError("\(shown(String(host))) is not an IPv4 address") }
        }
        guard case .value(let port) = IntegerText(String(portText)), (1...65535).contains(port) else {
            throw valueError("\(shown(String(portText))) is not a valid port (1…65535)")
        }
        guard let address = IPAddress(host) else { throw valueError("\(shown(text)) is not address:port; \(example)") }
        return MetricsSettings(address: address, port: UInt16(port))
    }
}
