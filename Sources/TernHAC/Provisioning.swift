public import TernProtocol

/// One direction's keys of an MN–HA SA (RFC 6618 §5.6.2). For AEAD suites `encryption` is key ‖ 4-octet
/// salt and `integrity` is empty; for NULL suites `encryption` is empty (DESIGN.md, AEAD keys).
public struct HACDirectionalKeys: Sendable, Hashable {
    public var encryption: [UInt8]
    public var integrity: [UInt8]

    public init(encryption: [UInt8], integrity: [UInt8]) {
        self.encryption = encryption
        self.integrity = integrity
    }
}

/// The SA the HAC hands out (RFC 6618 §5.6): the same values reach the HA.
public struct HACSecurityAssociation: Sendable, Hashable {
    public var spi: SecurityParameterIndex
    public var suite: Ciphersuite
    public var scope: SecurityAssociationScope
    public var mnToHA: HACDirectionalKeys
    public var haToMN: HACDirectionalKeys
    /// `mip6-sa-validity-end`; nil when the HAC sent none (the RFC does not make it mandatory).
    public var validityEnd: HTTPDate?

    public init(
        spi: SecurityParameterIndex, suite: Ciphersuite, scope: SecurityAssociationScope,
        mnToHA: HACDirectionalKeys, haToMN: HACDirectionalKeys, validityEnd: HTTPDate?
    ) {
        self.spi = spi
        self.suite = suite
        self.scope = scope
        self.mnToHA = mnToHA
        self.haToMN = haToMN
        self.validityEnd = validityEnd
    }

    /// Refuses keys whose length does not fit ``suite`` (DESIGN.md: wrong key lengths are refused).
    /// - Throws: ``HACError/Kind/wrongKeyLength(expected:received:)`` naming the header.
    public func checkKeyLengths() throws(HACError) {
        let checks: [(String, [UInt8], Int)] = [
            ("mip6-mn-to-ha-ekey", mnToHA.encryption, suite.encryptionKeyLength),
            ("mip6-ha-to-mn-ekey", haToMN.encryption, suite.encryptionKeyLength),
            ("mip6-mn-to-ha-ikey", mnToHA.integrity, suite.integrityKeyLength),
            ("mip6-ha-to-mn-ikey", haToMN.integrity, suite.integrityKeyLength),
        ]
        for (header, key, expected) in checks where key.count != expected {
            throw HACError(.wrongKeyLength(expected: expected, received: key.count), header: header)
        }
    }
}

/// The Mobile IPv6 bootstrapping data (RFC 6618 §5.7).
public struct HACBootstrap: Sendable, Hashable {
    /// The IANA `mipv6tls` UDP port, used when the HAC names none (§5.7.2).
    public static let defaultPort: UInt16 = 7872

    public var homeAgentIPv4: IPv4Address?
    public var homeAgentIPv6: IPv6Address?
    public var port: UInt16
    public var homeAddressIPv4: IPv4Address?
    public var homeAddressIPv6: IPv6Address?
    public var homeNetworkPrefixIPv4: IPPrefix?
    public var homeNetworkPrefixIPv6: IPPrefix?
    public var dnsIPv4: [IPv4Address]
    public var dnsIPv6: [IPv6Address]

    public init(
        homeAgentIPv4: IPv4Address? = nil, homeAgentIPv6: IPv6Address? = nil, port: UInt16 = Self.defaultPort,
        homeAddressIPv4: IPv4Address? = nil, homeAddressIPv6: IPv6Address? = nil,
        homeNetworkPrefixIPv4: IPPrefix? = nil, homeNetworkPrefixIPv6: IPPrefix? = nil,
        dnsIPv4: [IPv4Address] = [], dnsIPv6: [IPv6Address] = []
    ) {
        self.homeAgentIPv4 = homeAgentIPv4
        self.homeAgentIPv6 = homeAgentIPv6
        self.port = port
        self.homeAddressIPv4 = homeAddressIPv4
        self.homeAddressIPv6 = homeAddressIPv6
        self.homeNetworkPrefixIPv4 = homeNetworkPrefixIPv4
        self.homeNetworkPrefixIPv6 = homeNetworkPrefixIPv6
        self.dnsIPv4 = dnsIPv4
        self.dnsIPv6 = dnsIPv6
    }
}

/// Everything a successful exchange yields: what the MN configures and what the HAC stored and told the HA.
public struct HACProvisioning: Sendable, Hashable {
    public var securityAssociation: HACSecurityAssociation
    public var bootstrap: HACBootstrap

    public init(securityAssociation: HACSecurityAssociation, bootstrap: HACBootstrap) {
        self.securityAssociation = securityAssociation
        self.bootstrap = bootstrap
    }

    /// Writes the SA and bootstrap headers into `message`. Key headers are sent only where the suite uses
    /// them: no ikey for AEAD suites, no ekey for NULL suites (DESIGN.md, AEAD keys).
    func apply(to message: inout HACMessage) {
        let sa = securityAssociation
        message.scope = sa.scope
        message.ciphersuite = sa.suite
        message.spi = sa.spi
        if sa.suite.integrityKeyLength > 0 {
            message.mnToHAIntegrityKey = sa.mnToHA.integrity
            message.haToMNIntegrityKey = sa.haToMN.integrity
        }
        if sa.suite.encryptionKeyLength > 0 {
            message.mnToHAEncryptionKey = sa.mnToHA.encryption
            message.haToMNEncryptionKey = sa.haToMN.encryption
        }
        message.validityEnd = sa.validityEnd
        let b = bootstrap
        message.homeAgentIPv4 = b.homeAgentIPv4
        message.homeAgentIPv6 = b.homeAgentIPv6
        message.port = b.port
        message.homeAddressIPv4 = b.homeAddressIPv4
        message.homeAddressIPv6 = b.homeAddressIPv6
        message.homeNetworkPrefixIPv4 = b.homeNetworkPrefixIPv4
        message.homeNetworkPrefixIPv6 = b.homeNetworkPrefixIPv6
        message.dnsIPv4 = b.dnsIPv4
        message.dnsIPv6 = b.dnsIPv6
    }

    /// Reads the SA and bootstrap from the HAC's final response, checking what the MN must check: the
    /// suite is one it offered, the SPI and scope are present, and the keys fit the suite.
    init(from message: HACMessage, offered: [Ciphersuite]) throws(HACError) {
        guard let suite = message.ciphersuite else { throw HACError(.missingHeader, header: "mip6-ciphersuite") }
        guard offered.contains(suite) else { throw HACError(.noAcceptableSuite, header: "mip6-ciphersuite") }
        guard let scope = message.scope else { throw HACError(.missingHeader, header: "mip6-sas") }
        guard let spi = message.spi else { throw HACError(.missingHeader, header: "mip6-spi") }
        func need(_ key: [UInt8]?, _ header: String, _ length: Int) throws(HACError) -> [UInt8] {
            guard length > 0 else { return [] }  // not used by this suite: ignored if present
            guard let key else { throw HACError(.missingHeader, header: header) }
            return key
        }
        let sa = HACSecurityAssociation(
            spi: spi, suite: suite, scope: scope,
            mnToHA: HACDirectionalKeys(
                encryption: try need(message.mnToHAEncryptionKey, "mip6-mn-to-ha-ekey", suite.encryptionKeyLength),
                integrity: try need(message.mnToHAIntegrityKey, "mip6-mn-to-ha-ikey", suite.integrityKeyLength)),
            haToMN: HACDirectionalKeys(
                encryption: try need(message.haToMNEncryptionKey, "mip6-ha-to-mn-ekey", suite.encryptionKeyLength),
                integrity: try need(message.haToMNIntegrityKey, "mip6-ha-to-mn-ikey", suite.integrityKeyLength)),
            validityEnd: message.validityEnd)
        try sa.checkKeyLengths()
        securityAssociation = sa
        bootstrap = HACBootstrap(
            homeAgentIPv4: message.homeAgentIPv4, homeAgentIPv6: message.homeAgentIPv6,
            port: message.port ?? HACBootstrap.defaultPort,
            homeAddressIPv4: message.homeAddressIPv4, homeAddressIPv6: message.homeAddressIPv6,
            homeNetworkPrefixIPv4: message.homeNetworkPrefixIPv4, homeNetworkPrefixIPv6: message.homeNetworkPrefixIPv6,
            dnsIPv4: message.dnsIPv4, dnsIPv6: message.dnsIPv6)
    }
}

/// What the HAC asks its provisioning store (SQLite, outside this module) for, once the MN is authenticated.
public struct HACProvisioningRequest: Sendable, Hashable {
    public let identity: NetworkAccessIdentifier
    public let suite: Ciphersuite
    public let scope: SecurityAssociationScope

    public init(identity: NetworkAccessIdentifier, suite: Ciphersuite, scope: SecurityAssociationScope) {
        self.identity = identity
        self.suite = suite
        self.scope = scope
    }
}

/// The provisioning store could not serve the MN. `status` is what the MN is told: 500 (internal) or
/// 503 (e.g. no home address free), with an optional `retry-after`. `reason` is for the HAC's log only.
public struct HACProvisioningFailure: Error, Sendable, Hashable {
    public var status: HACStatusCode
    public var retryAfter: HTTPDate?
    public var reason: String

    public init(status: HACStatusCode = .internalServerError, retryAfter: HTTPDate? = nil, reason: String) {
        self.status = status
        self.retryAfter = retryAfter
        self.reason = reason
    }
}
