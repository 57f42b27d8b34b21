/// The 4-bit Packet Type that opens every MN↔HA datagram (RFC 6618 §6.2, IANA registry of §8.1).
public enum PacketType: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// Plaintext user data: SPI 0, Sequence Number 0, then the inner IPv4/IPv6 packet; no trailer, no ICV
    /// (RFC 6618 §6.4, Figure 9). Legal only under an SA with scope 0.
    case plaintext = 0
    /// A protected, reverse-tunneled IPv4 or IPv6 packet (RFC 6618 §6.4, Figure 8). Also carries the
    /// project's keepalive (Next Header 59, empty payload).
    case userData = 1
    /// A protected Mobility Header with no IP header inside (RFC 6618 §6.3, Figure 7).
    case mobilityHeader = 8

    public var description: String {
        switch self {
        case .plaintext: "PType 0 (plaintext)"
        case .userData: "PType 1 (user data)"
        case .mobilityHeader: "PType 8 (mobility header)"
        }
    }
}

/// IANA protocol numbers carried in the ESP-style Next Header octet (RFC 4303 §2.6).
public enum NextHeader {
    /// An IPv4 packet follows (IP-in-IP).
    public static let ipv4: UInt8 = 4
    /// An IPv6 packet follows.
    public static let ipv6: UInt8 = 41
    /// No Next Header (RFC 8200 §4.7): the project's keepalive, an empty PType 1 payload.
    public static let noNextHeader: UInt8 = 59
    /// Mobility Header (RFC 6275 §6.1.1).
    public static let mobility: UInt8 = 135
}
