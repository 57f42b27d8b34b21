public import TernProtocol

/// A failed store operation: what was asked and why. Never carries key material.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The four keys of an SA (RFC 6618 §5.6.2); an absent key is empty. AEAD encryption keys carry their
/// 4-octet salt last (DESIGN.md: AEAD keys).
public struct SecurityAssociationKeys: Sendable, Hashable {
    public var mobileNodeToHomeAgentEncryption: [UInt8]
    public var mobileNodeToHomeAgentIntegrity: [UInt8]
    public var homeAgentToMobileNodeEncryption: [UInt8]
    public var homeAgentToMobileNodeIntegrity: [UInt8]

    public init(
        mobileNodeToHomeAgentEncryption: [UInt8], mobileNodeToHomeAgentIntegrity: [UInt8],
        homeAgentToMobileNodeEncryption: [UInt8], homeAgentToMobileNodeIntegrity: [UInt8]
    ) {
        self.mobileNodeToHomeAgentEncryption = mobileNodeToHomeAgentEncryption
        self.mobileNodeToHomeAgentIntegrity = mobileNodeToHomeAgentIntegrity
        self.homeAgentToMobileNodeEncryption = homeAgentToMobileNodeEncryption
        self.homeAgentToMobileNodeIntegrity = homeAgentToMobileNodeIntegrity
    }
}

extension SecurityAssociationKeys: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Lengths only: keys never show in a description, a debug description or a dump.
    public var description: String {
        "SecurityAssociationKeys(mn-to-ha \(redacted(mobileNodeToHomeAgentEncryption)) + \(redacted(mobileNodeToHomeAgentIntegrity)), "
            + "ha-to-mn \(redacted(homeAgentToMobileNodeEncryption)) + \(redacted(homeAgentToMobileNodeIntegrity)))"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["keys": description]) }
}

/// An SA the controller issued. `description` never shows a key (nor does a dump: its keys are redacted).
public struct IssuedSecurityAssociation: Sendable, Hashable, CustomStringConvertible {
    public var securityParameterIndex: UInt32
    public var identity: String
    public var suite: Ciphersuite
    public var scope: SecurityAssociationScope
    public var keys: SecurityAssociationKeys
    /// Seconds since 1970.
    public var issuedAt: Double
    public var validityEnd: Double
    /// The HA→MN sequence numbers reserved so far (persisted before use).
    public var sequenceReservation: UInt32
    public var retiredAt: Double?
    /// The highest MN→HA sequence number persisted as accepted (refused after a restart).
    public var receivedHighest: UInt32

    public init(
        securityParameterIndex: UInt32, identity: String, suite: Ciphersuite, scope: SecurityAssociationScope,
        keys: SecurityAssociationKeys, issuedAt: Double, validityEnd: Double, sequenceReservation: UInt32,
        retiredAt: Double? = nil, receivedHighest: UInt32 = 0
    ) {
        self.receivedHighest = receivedHighest
        self.securityParameterIndex = securityParameterIndex
        self.identity = identity
        self.suite = suite
        self.scope = scope
        self.keys = keys
        self.issuedAt = issuedAt
        self.validityEnd = validityEnd
        self.sequenceReservation = sequenceReservation
        self.retiredAt = retiredAt
    }

    public var summary: SecurityAssociationSummary {
        SecurityAssociationSummary(
            securityParameterIndex: securityParameterIndex, suite: suite, scope: scope, validityEnd: validityEnd)
    }

    public var description: String {
        "SA \(securityParameterIndex) of \(identity): suite \(suite), scope \(scope.rawValue), keys redacted"
    }
}

/// What may be shown of an SA: never a key.
public struct SecurityAssociationSummary: Sendable, Hashable {
    public var securityParameterIndex: UInt32
    public var suite: Ciphersuite
    public var scope: SecurityAssociationScope
    public var validityEnd: Double
}

/// A Mobile Node as `tern users list` shows it.
public struct MobileNodeRecord: Sendable, Hashable {
    public var identity: String
    public var createdAt: Double
    public var homeAddresses: [IPAddress]
    public var securityAssociations: [SecurityAssociationSummary]
    /// Disabled (`tern users disable`): its bootstrap is refused; key and leases are kept.
    public var disabled: Bool = false
}

/// Picking addresses out of a pool prefix.
public enum HomeAddressPool {
    /// Host addresses looked at in a pool at most: a /8 or a /64 is not walked to its end.
    public static let maximumScan = 1 << 16

    /// The lowest address of `pool` after the network address (and, for IPv4, before the broadcast
    /// address) that is not in `excluded`.
    public static func firstFree(in pool: IPPrefix, excluding excluded: Set<IPAddress>) -> IPAddress? {
        switch pool.address {
        case .v4(let base):
            let hostBits = 32 - pool.length
            guard hostBits >= 2 else { return nil }
            let network = base.rawValue & (hostBits >= 32 ? 0 : ~UInt32(0) << UInt32(hostBits))
            let count = min(UInt64(1) << UInt64(hostBits), UInt64(maximumScan))
            for offset in 1..<max(count - 1, 1) {
                let candidate = IPAddress.v4(IPv4Address(rawValue: network | UInt32(offset)))
                if !excluded.contains(candidate) { return candidate }
            }
            return nil
        case .v6(let base):
            let hostBits = 128 - pool.length
            guard hostBits >= 1 else { return nil }
            let count = hostBits >= 17 ? UInt64(maximumScan) : UInt64(1) << UInt64(hostBits)
            let lowMask: UInt64 = hostBits >= 64 ? 0 : ~UInt64(0) << UInt64(hostBits)
            let highMask: UInt64 = hostBits <= 64 ? ~0 : (hostBits >= 128 ? 0 : ~UInt64(0) << UInt64(hostBits - 64))
            let high = base.high & highMask
            let low = base.low & lowMask
            for offset in 1..<count {
                let candidate = IPAddress.v6(IPv6Address(high: high, low: low | offset))
                if !excluded.contains(candidate) { return candidate }
            }
            return nil
        }
    }
}

/// A binding as the store keeps it (times in seconds since 1970).
public struct StoredBinding: Sendable {
    public var spi: UInt32
    public var sequenceNumber: UInt16
    public var careOfAddress: IPAddress?
    public var behindNAT: Bool
    public var ipv4HomeAddress: IPv4Address?
    public var lifetimeSeconds: UInt32
    public var registeredAt: Double
    public var expiresAt: Double
    /// Where the HA last sent: the outer address and port of the MN's newest packet.
    public var endpoint: (address: IPAddress, port: UInt16)?

    public init(
        spi: UInt32, sequenceNumber: UInt16, careOfAddress: IPAddress?, behindNAT: Bool, ipv4HomeAddress: IPv4Address?,
        lifetimeSeconds: UInt32, registeredAt: Double, expiresAt: Double, endpoint: (address: IPAddress, port: UInt16)?
    ) {
        self.spi = spi
        self.sequenceNumber = sequenceNumber
        self.careOfAddress = careOfAddress
        self.behindNAT = behindNAT
        self.ipv4HomeAddress = ipv4HomeAddress
        self.lifetimeSeconds = lifetimeSeconds
        self.registeredAt = registeredAt
        self.expiresAt = expiresAt
        self.endpoint = endpoint
    }
}
