public import TernProtocol
import TernRoles

/// What the Mobile Node's control plane reports for the log.
public enum MobileNodeEvent: Sendable {
    case pathChanged(trigger: HandoverRecord.Trigger, description: String)
    case registered(lifetimeSeconds: UInt32, natKeepaliveSeconds: UInt32?, ipv4HomeAddress: IPv4Address?)
    case rejected(BindingAcknowledgementStatus)
    case reinitializeSecurityAssociation
    case registrationExpired
    case deregistered
    case handover(HandoverRecord)
    case ignoredSignalling(octets: Int)
    case rekeyed(spi: UInt32)
    /// The HA answered none of `unanswered` Binding Updates in a row (``HomeAgentLiveness``).
    case homeAgentUnresponsive(unanswered: Int)
    case failed(String)
}

/// Why a re-key failed (for the log).
public struct RekeyFailure: Error, Sendable {
    public var reason: String
}
