// The Mobility Header messages Tern exchanges inside PType 8 (RFC 6618 §6): Binding Update,
// Binding Acknowledgement and Binding Error (RFC 6275 §6.1.7, §6.1.8, §6.1.9) with the options of
// RFC 6275 §6.2 and RFC 5555 §3.1. These are plain values; `MobilityHeaderCodec` turns them into
// octets and back.

/// Mobility Header message types (RFC 6275 §6.1.2).
public enum MobilityHeaderType: UInt8, Sendable, Hashable {
    case bindingUpdate = 5
    case bindingAcknowledgement = 6
    case bindingError = 7
}

/// The Binding Update's flags (RFC 6275 §6.1.7; F from RFC 5555 §3.1.3). Tern sends A and H only
/// (DESIGN.md: Binding Update); the others are carried so that a received BU can be judged.
public struct BindingUpdateFlags: OptionSet, Sendable, Hashable {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// A: the MN asks for a Binding Acknowledgement.
    public static let acknowledge = BindingUpdateFlags(rawValue: 0x8000)
    /// H: home registration.
    public static let homeRegistration = BindingUpdateFlags(rawValue: 0x4000)
    /// L: link-local address compatibility.
    public static let linkLocalCompatibility = BindingUpdateFlags(rawValue: 0x2000)
    /// K: key management mobility capability.
    public static let keyManagementMobility = BindingUpdateFlags(rawValue: 0x1000)
    /// F: force UDP encapsulation (RFC 5555 §3.1.3).
    public static let forceUDPEncapsulation = BindingUpdateFlags(rawValue: 0x0100)
}

/// The Binding Acknowledgement's flags octet (RFC 6275 §6.1.8): K is the high bit.
public struct BindingAcknowledgementFlags: OptionSet, Sendable, Hashable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// K: key management mobility capability.
    public static let keyManagementMobility = BindingAcknowledgementFlags(rawValue: 0x80)
    /// R: mobile router (RFC 3963).
    public static let mobileRouter = BindingAcknowledgementFlags(rawValue: 0x40)
    /// P: proxy registration (RFC 5213).
    public static let proxyRegistration = BindingAcknowledgementFlags(rawValue: 0x20)
}

/// A Binding Acknowledgement status (RFC 6275 §6.1.8; 176 is Tern's, DESIGN.md). Values below 128
/// accept the Binding Update.
public struct BindingAcknowledgementStatus: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let accepted = Self(rawValue: 0)
    public static let acceptedPrefixDiscoveryNecessary = Self(rawValue: 1)
    public static let reasonUnspecified = Self(rawValue: 128)
    public static let administrativelyProhibited = Self(rawValue: 129)
    public static let insufficientResources = Self(rawValue: 130)
    public static let homeRegistrationNotSupported = Self(rawValue: 131)
    public static let notHomeSubnet = Self(rawValue: 132)
    public static let notHomeAgentForThisMobileNode = Self(rawValue: 133)
    public static let duplicateAddressDetectionFailed = Self(rawValue: 134)
    public static let sequenceNumberOutOfWindow = Self(rawValue: 135)
    /// DESIGN.md: the SA is near its sequence soft limit or validity end; run the HAC exchange again.
    public static let reinitializeSecurityAssociationWithHAC = Self(rawValue: 176)

    public var isAccepted: Bool { rawValue < 128 }

    public var description: String {
        switch self {
        case .accepted: "0 (accepted)"
        case .acceptedPrefixDiscoveryNecessary: "1 (accepted, prefix discovery necessary)"
        case .reasonUnspecified: "128 (reason unspecified)"
        case .administrativelyProhibited: "129 (administratively prohibited)"
        case .insufficientResources: "130 (insufficient resources)"
        case .homeRegistrationNotSupported: "131 (home registration not supported)"
        case .notHomeSubnet: "132 (not home subnet)"
        case .notHomeAgentForThisMobileNode: "133 (not home agent for this mobile node)"
        case .duplicateAddressDetectionFailed: "134 (duplicate address detection failed)"
        case .sequenceNumberOutOfWindow: "135 (sequence number out of window)"
        case .reinitializeSecurityAssociationWithHAC: "176 (reinit SA with HAC)"
        default: "\(rawValue)"
        }
    }
}

/// The status in an IPv4 Address Acknowledgement option (RFC 5555 §3.2.1). Below 128 is success.
public struct IPv4AddressAcknowledgementStatus: RawRepresentable, Sendable, Hashable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let success = Self(rawValue: 0)
    public static let failureReasonUnspecified = Self(rawValue: 128)
    public static let administrativelyProhibited = Self(rawValue: 129)
    public static let incorrectIPv4HomeAddress = Self(rawValue: 130)
    public static let invalidIPv4Address = Self(rawValue: 131)
    public static let dynamicAssignmentNotAvailable = Self(rawValue: 132)
    public static let prefixAllocationUnauthorized = Self(rawValue: 133)

    public var isSuccess: Bool { rawValue < 128 }
}

/// One mobility option (RFC 6275 §6.2, RFC 5555 §3.1–3.2). Pad1 and PadN are produced by the encoder
/// for alignment and skipped by the decoder, so they never appear in a decoded message.
public enum MobilityOption: Sendable, Hashable {
    /// Binding Refresh Advice (2): refresh after this many 4-second units.
    case bindingRefreshAdvice(intervalUnits: UInt16)
    /// Alternate Care-of Address (3): the MN's local IPv6 address.
    case alternateCareOfAddress(IPv6Address)
    /// IPv4 Home Address (29), from the MN: the address it holds (0.0.0.0 asks the HA to assign one).
    case ipv4HomeAddress(address: IPv4Address, prefixLength: UInt8, requestPrefix: Bool)
    /// IPv4 Address Acknowledgement (30), from the HA.
    case ipv4AddressAcknowledgement(status: IPv4AddressAcknowledgementStatus, address: IPv4Address, prefixLength: UInt8)
    /// NAT Detection (31), from the HA: F flag, and the keepalive interval in seconds (0 = default 25,
    /// all-ones = no keepalives needed).
    case natDetection(udpEncapsulationRequired: Bool, refreshTimeSeconds: UInt32)
    /// IPv4 Care-of Address (32): the MN's local IPv4 address.
    case ipv4CareOfAddress(IPv4Address)
    /// Any other option: skipped by Tern, kept for diagnostics.
    case unknown(type: UInt8, data: [UInt8])
}

/// Binding Update (RFC 6275 §6.1.7).
public struct BindingUpdate: Sendable, Hashable {
    public var sequenceNumber: UInt16
    public var flags: BindingUpdateFlags
    /// Requested lifetime in 4-second units; 0 deregisters.
    public var lifetimeUnits: UInt16
    public var options: [MobilityOption]

    public init(sequenceNumber: UInt16, flags: BindingUpdateFlags, lifetimeUnits: UInt16, options: [MobilityOption]) {
        self.sequenceNumber = sequenceNumber
        self.flags = flags
        self.lifetimeUnits = lifetimeUnits
        self.options = options
    }
}

/// Binding Acknowledgement (RFC 6275 §6.1.8).
public struct BindingAcknowledgement: Sendable, Hashable {
    public var status: BindingAcknowledgementStatus
    public var flags: BindingAcknowledgementFlags
    public var sequenceNumber: UInt16
    /// Granted lifetime in 4-second units.
    public var lifetimeUnits: UInt16
    public var options: [MobilityOption]

    public init(
        status: BindingAcknowledgementStatus, flags: BindingAcknowledgementFlags = [], sequenceNumber: UInt16,
        lifetimeUnits: UInt16, options: [MobilityOption]
    ) {
        self.status = status
        self.flags = flags
        self.sequenceNumber = sequenceNumber
        self.lifetimeUnits = lifetimeUnits
        self.options = options
    }
}

/// Binding Error (RFC 6275 §6.1.9).
public struct BindingError: Sendable, Hashable {
    /// Status 1: unknown binding for Home Address destination option.
    public static let unknownBindingForHomeAddress: UInt8 = 1
    /// Status 2: unrecognized MH Type value (RFC 6275 §9.2).
    public static let unrecognizedMobilityHeaderType: UInt8 = 2

    /// 1: unknown binding for Home Address destination option; 2: unrecognized MH Type value.
    public var status: UInt8
    public var homeAddress: IPv6Address
    public var options: [MobilityOption]

    public init(status: UInt8, homeAddress: IPv6Address, options: [MobilityOption]) {
        self.status = status
        self.homeAddress = homeAddress
        self.options = options
    }
}

/// A decoded Mobility Header message.
public enum MobilityMessage: Sendable, Hashable {
    case bindingUpdate(BindingUpdate)
    case bindingAcknowledgement(BindingAcknowledgement)
    case bindingError(BindingError)
}
