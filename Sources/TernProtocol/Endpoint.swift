/// The local end of a received datagram (IP_PKTINFO / IPV6_PKTINFO): the address the peer sent it to,
/// which a reply must come from or a NAT drops it (DESIGN.md: Replies). A pure value; TernOS converts
/// it to and from the kernel's packet info.
public struct LocalAddress: Hashable, Sendable {
    /// nil: the datagram carried no packet info, or "let routing choose" when sending.
    public var address: IPAddress?
    /// The interface the datagram arrived on (0: unknown or any).
    public var interfaceIndex: UInt32

    public init(address: IPAddress?, interfaceIndex: UInt32 = 0) {
        self.address = address
        self.interfaceIndex = interfaceIndex
    }

    /// No packet info: the kernel picks the source address by its routing table.
    public static let unspecified = LocalAddress(address: nil)
}

/// Where a Mobile Node is reached: the outer address:port of its newest authenticated packet, and the
/// local address that packet was sent to, which replies must come from (DESIGN.md: Replies).
public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
    public var remote: SocketAddress
    public var local: LocalAddress

    public init(remote: SocketAddress, local: LocalAddress) {
        self.remote = remote
        self.local = local
    }

    /// Two endpoints are one when the peer and the local address agree; the interface a datagram came
    /// in on does not make it another endpoint.
    public static func == (lhs: Endpoint, rhs: Endpoint) -> Bool {
        lhs.remote == rhs.remote && lhs.local.address == rhs.local.address
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(remote)
        hasher.combine(local.address)
    }

    public var description: String { "\(remote)" }
}
