public import TernProtocol

/// An SA as the HAC hands it out (RFC 6618 §5.6) or as a static config states it: one SPI for both
/// directions, keys per direction.
public struct SecurityAssociation: Sendable {
    public let securityParameterIndex: SecurityParameterIndex
    public let suite: Ciphersuite
    public let scope: SecurityAssociationScope
    /// `mip6-mn-to-ha-ekey` / `-ikey`.
    public let mobileNodeToHomeAgent: DirectionalKeys
    /// `mip6-ha-to-mn-ekey` / `-ikey`.
    public let homeAgentToMobileNode: DirectionalKeys

    public init(
        securityParameterIndex: SecurityParameterIndex, suite: Ciphersuite, scope: SecurityAssociationScope,
        mobileNodeToHomeAgent: DirectionalKeys, homeAgentToMobileNode: DirectionalKeys
    ) {
        self.securityParameterIndex = securityParameterIndex
        self.suite = suite
        self.scope = scope
        self.mobileNodeToHomeAgent = mobileNodeToHomeAgent
        self.homeAgentToMobileNode = homeAgentToMobileNode
    }

    /// Which end of the SA this process is.
    public enum Role: Sendable {
        case mobileNode
        case homeAgent
    }

    /// Builds the sending and receiving halves for `role`: the MN sends with the MN-to-HA keys and
    /// receives with the HA-to-MN keys; the HA the other way round. `lanes`: contexts for that many
    /// crypto lanes in each half (`tunnel.crypto-threads`).
    public func makeEndpoints(
        for role: Role, lastSentSequenceNumber: UInt32 = 0, receivedThrough: UInt32 = 0, lanes: Int = 1
    ) throws(SecurityAssociationError) -> (outbound: OutboundSecurityAssociation, inbound: InboundSecurityAssociation) {
        let (sending, receiving) =
            role == .mobileNode
            ? (mobileNodeToHomeAgent, homeAgentToMobileNode) : (homeAgentToMobileNode, mobileNodeToHomeAgent)
        let outbound = try OutboundSecurityAssociation(
            securityParameterIndex: securityParameterIndex, suite: suite, keys: sending,
            lastSentSequenceNumber: lastSentSequenceNumber, lanes: lanes)
        let inbound = try InboundSecurityAssociation(
            securityParameterIndex: securityParameterIndex, suite: suite, scope: scope, keys: receiving, lanes: lanes,
            receivedThrough: receivedThrough)
        return (outbound, inbound)
    }
}
