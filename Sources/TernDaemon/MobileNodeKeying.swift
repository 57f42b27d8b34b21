public import TernConfig
public import TernDataChannel
import TernOS
public import TernProtocol

/// What the Mobile Node runs with: its SA, Home Agents and Home Addresses, from the configuration
/// (manual keying) or from the HAC's bootstrap (RFC 6618 §5). Pure: the bootstrap is done by the caller.
public struct MobileNodeKeying: Sendable {
    public var association: SecurityAssociation
    public var homeAgentAddresses: [IPAddress]
    public var homeAgentPort: UInt16
    public var homeAddresses: [IPAddress]
    /// Seconds to the SA's validity end, when the HAC gave one.
    public var validitySeconds: Double?
    /// The DNS servers the HAC named (none with manual keying).
    public var controllerDNSServers: [IPAddress]

    /// - Parameters:
    ///   - bootstrapped: the HAC exchange's result, when the configuration has `hac:`.
    ///   - path: the configuration file, for messages.
    ///   - now: seconds since 1970.
    /// - Throws: ``DaemonError`` (configuration) when there is nothing to key the tunnel with, or a route
    ///   would carry the tunnel into itself.
    public init(
        _ configuration: MobileNodeConfiguration, bootstrapped: MobileNodeBootstrap?, path: String, now: Double
    ) throws(DaemonError) {
        if let bootstrapped {
            association = bootstrapped.association
            homeAgentAddresses = bootstrapped.homeAgents
            homeAgentPort = bootstrapped.port
            homeAddresses = bootstrapped.homeAddresses
            validitySeconds = bootstrapped.validitySeconds(at: now)
            controllerDNSServers = bootstrapped.dnsServers
        } else if let configured = configuration.securityAssociation {
            association = configured
            homeAgentAddresses = configuration.homeAgentAddresses
            homeAgentPort = configuration.homeAgentPort
            homeAddresses = configuration.homeAddresses
            validitySeconds = nil
            controllerDNSServers = []
        } else {
            throw DaemonError(
                "\(path): no security-association and no hac: nothing to key the tunnel with", configuration: true)
        }
        // Until policy routing covers it, a route that covers the Home Agent would send the tunnel into itself.
        if let (route, homeAgent) = Self.loopingRoute(routes: configuration.routes, homeAgents: homeAgentAddresses) {
            throw DaemonError(
                "\(path): tunnel.routes: \(route) contains the Home Agent's address \(homeAgent); the tunnel would route into itself",
                configuration: true)
        }
    }

    /// The Home Agents' UDP endpoints.
    public var homeAgents: [SocketAddress] { homeAgentAddresses.map { SocketAddress($0, port: homeAgentPort) } }

    /// The first route that contains a Home Agent's address, with that address.
    public static func loopingRoute(routes: [IPPrefix], homeAgents: [IPAddress]) -> (IPPrefix, IPAddress)? {
        for address in homeAgents {
            if let route = routes.first(where: { $0.contains(address) }) { return (route, address) }
        }
        return nil
    }

    /// The DNS servers to apply: `tunnel.dns-servers`, else the HAC's; nil with `tunnel.dns: off`.
    public static func dnsServers(_ configuration: MobileNodeConfiguration, controllerServers: [IPAddress]) -> [IPAddress]? {
        guard configuration.dns == .auto else { return nil }
        return configuration.dnsServers.isEmpty ? controllerServers : configuration.dnsServers
    }
}

/// What a re-key learns that only a restart applies: the warnings to log.
public struct RekeyComparison: Sendable {
    public let homeAddresses: [IPAddress]
    public let dnsServers: [IPAddress]
    /// `tunnel.dns-servers` is set: the HAC's servers are not used anyway.
    public let staticDNS: Bool

    public init(homeAddresses: [IPAddress], dnsServers: [IPAddress], staticDNS: Bool) {
        self.homeAddresses = homeAddresses
        self.dnsServers = dnsServers
        self.staticDNS = staticDNS
    }

    public func warnings(homeAddresses new: [IPAddress], dnsServers newDNS: [IPAddress]) -> [String] {
        var warnings: [String] = []
        if new != homeAddresses { warnings.append("the HAC now names other home addresses; they take effect at the next start") }
        if newDNS != dnsServers && !staticDNS {
            warnings.append("the HAC now names other DNS servers; they take effect at the next start")
        }
        return warnings
    }
}
