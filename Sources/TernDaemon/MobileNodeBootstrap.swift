import Foundation
public import Logging
public import TernConfig
import TernController
public import TernDataChannel
public import TernHAC
import TernOS
public import TernProtocol
import TernTLS

/// The Mobile Node's bootstrap: the HAC exchange, then what the daemon runs with.
public struct MobileNodeBootstrap: Sendable {
    /// What the exchange is for, as the `kind` label of `tern_hac_exchanges_total` says it.
    public enum Kind: String, CaseIterable, Sendable {
        case bootstrap
        case rekey
    }

    public var association: SecurityAssociation
    public var homeAgents: [IPAddress]
    public var port: UInt16
    public var homeAddresses: [IPAddress]
    public var validityEnd: HTTPDate?
    public var tlsVersion: String
    /// The DNS servers the HAC named (dns-ip4, then dns-ip6), in its order.
    public var dnsServers: [IPAddress]

    /// Seconds from `now` (seconds since 1970) to the SA's validity end, when the HAC gave one.
    public func validitySeconds(at now: Double) -> Double? {
        validityEnd.map { Double($0.secondsSince1970) - now }
    }

    /// Seconds from now to the SA's validity end, when the HAC gave one.
    public var validitySeconds: Double? { validitySeconds(at: wallClockSeconds()) }

    /// What the daemon runs with, from what the HAC provisioned. Pure.
    /// - Throws: ``DaemonError`` when the SA is unusable or no home agent or no home address was named.
    public init(provisioning provisioned: HACProvisioning, tlsVersion: String) throws(DaemonError) {
        do {
            association = try SecurityAssociation(provisioned.securityAssociation)
        } catch {
            throw DaemonError("the home agent controller sent an unusable SA: \(error)")
        }
        let bootstrap = provisioned.bootstrap
        homeAgents = [bootstrap.homeAgentIPv4.map(IPAddress.v4), bootstrap.homeAgentIPv6.map(IPAddress.v6)].compactMap { $0 }
        homeAddresses = [bootstrap.homeAddressIPv4.map(IPAddress.v4), bootstrap.homeAddressIPv6.map(IPAddress.v6)]
            .compactMap { $0 }
        port = bootstrap.port
        dnsServers = bootstrap.dnsIPv4.map(IPAddress.v4) + bootstrap.dnsIPv6.map(IPAddress.v6)
        validityEnd = provisioned.securityAssociation.validityEnd
        self.tlsVersion = tlsVersion
        guard !homeAgents.isEmpty, !homeAddresses.isEmpty else {
            throw DaemonError("the home agent controller named no home agent or no home address")
        }
    }

    /// Runs one exchange with the HAC and counts how it ended (`tern_hac_exchanges_total{kind,outcome}`).
    /// - Parameter firewallMark: SO_MARK for the TCP connection (the full tunnel's, so that a re-key
    ///   never runs through the tunnel it re-keys); nil: none.
    /// - Throws: ``DaemonError``; `configuration` when the PSK file or identity is at fault.
    public init(
        _ settings: ControllerClientSettings, kind: Kind, firewallMark: UInt32? = nil, logger: Logger
    ) throws(DaemonError) {
        let key: [UInt8]
        do {
            key = try PreSharedKeyFile.load(settings.pskFile)
        } catch {
            throw DaemonError("\(error)", configuration: true)
        }
        guard let identity = NetworkAccessIdentifier(settings.identity) else {
            throw DaemonError("hac.identity: \(settings.identity) is not a network access identifier", configuration: true)
        }
        let trust: TLSTrust =
            if let ca = settings.caFile { .certificateAuthorities(file: ca) } else {
                .pinnedCertificate(file: settings.pinnedCertificate ?? "")
            }
        let dimensions = [("kind", kind.rawValue)]
        let result: HomeAgentControllerClient.Result
        let started = monotonicNanoseconds()
        do {
            result = try HomeAgentControllerClient.bootstrap(
                .init(
                    controller: SocketAddress(settings.address, port: settings.port), trust: trust,
                    serverIdentity: TLSServerIdentity(settings.serverName), identity: identity, preSharedKey: key,
                    proposedSuites: settings.suites.isEmpty ? PSKServer.Policy.defaultSuitePreference : settings.suites,
                    firewallMark: firewallMark,
                    waiting: { [logger] seconds in
                        logger.warning(
                            "the home agent controller answered 503 with retry-after: trying again in \(Int(seconds.rounded(.up))) s")
                    }))
        } catch {
            HACExchangeOutcome(error).count(dimensions: dimensions)
            let what = kind == .bootstrap ? "bootstrap with" : "the exchange with"
            throw DaemonError("\(what) the home agent controller at \(settings.address) failed: \(error)")
        }
        do {
            try self.init(provisioning: result.provisioning, tlsVersion: result.tlsVersion)
        } catch {
            HACExchangeOutcome.serverError.count(dimensions: dimensions)
            throw error
        }
        HACExchangeOutcome.ok.count(dimensions: dimensions)
        let milliseconds = String(format: "%.1f", Double(monotonicNanoseconds() - started) / 1e6)
        logger.info(
            "bootstrapped over \(result.tlsVersion) (\(result.tlsCipher)): SPI \(association.securityParameterIndex.rawValue), suite \(association.suite), home addresses \(homeAddresses.map(\.description).joined(separator: ", ")) (\(kind.rawValue) exchange \(milliseconds) ms)"
        )
    }
}

/// A pre-shared key file as `tern users add` writes it: hex, root-only.
public enum PreSharedKeyFile {
    /// The key in the file at `path`, after the secret-file checks (TernConfig ``KeyFile/readRootOnly(_:)``).
    public static func load(_ path: String) throws(ConfigurationError) -> [UInt8] {
        try parse(try KeyFile.readRootOnly(path), path: path)
    }

    /// The key in `text`: hex digits, whitespace ignored. Pure.
    public static func parse(_ text: String, path: String) throws(ConfigurationError) -> [UInt8] {
        guard let key = HexEncoding.decode(text.filter { !$0.isWhitespace }), !key.isEmpty else {
            throw ConfigurationError(file: path, message: "expected the pre-shared key as hex digits")
        }
        return key
    }
}
