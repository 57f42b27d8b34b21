public import TernProtocol

/// Why the tunnel (not the data channel's framing) dropped a packet. Counted, never sent to a peer.
public enum TunnelDropReason: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// The TUN device gave something that is not an IPv4/IPv6 packet.
    case malformedInnerPacket
    /// HA: a packet from the TUN for an address no Mobile Node owns.
    case unknownHomeAddress
    /// HA: the Mobile Node has no live binding (no accepted Binding Update, or its lifetime ran out).
    case noBinding
    /// HA: a Mobile Node's packet whose inner source is not one of its Home Addresses.
    case spoofedInnerSource
    /// MN: a packet from the HA whose inner destination is not one of this node's Home Addresses.
    case notForHomeAddress
    /// HA: PType 0 from an outer address that is no active binding.
    case unknownPlaintextSource
    /// A datagram larger than the receive buffer (MSG_TRUNC).
    case truncatedDatagram
    /// A packet that could not be sealed (size, or an SA that ran out of sequence numbers).
    case sealFailed
    /// The kernel refused a datagram or the socket buffer stayed full.
    case sendFailed
    /// The TUN device refused a packet or its queue was full.
    case tunWriteFailed
    /// An authenticated PType 8 payload that is not a Mobility Header Tern can decode.
    case malformedMobilityHeader
    /// A Mobility Header the receiver has no use for (a Binding Acknowledgement at the HA, a Binding
    /// Update at the MN).
    case unexpectedMobilityMessage
    /// The signalling mailbox between threads was full (a flood of authenticated PType 8).
    case signallingBacklog
    /// MN: no route to any of the Home Agent's addresses (no usable care-of address).
    case noPathToHomeAgent
    /// MN: a datagram from an address:port that is not the Home Agent's.
    case notFromHomeAgent
    /// HA: the SA's persisted sequence-number reservation is used up and the next one is not written yet.
    case sequenceReservationPending
    /// A super-packet from the TUN device (virtio header, TSO/USO) that could not be split.
    case malformedOffloadPacket

    public var description: String { label }

    /// A short, stable name for metrics and JSON.
    public var label: String {
        switch self {
        case .malformedInnerPacket: "malformed_inner_packet"
        case .unknownHomeAddress: "unknown_home_address"
        case .noBinding: "no_binding"
        case .spoofedInnerSource: "spoofed_inner_source"
        case .notForHomeAddress: "not_for_home_address"
        case .unknownPlaintextSource: "unknown_plaintext_source"
        case .truncatedDatagram: "truncated_datagram"
        case .sealFailed: "seal_failed"
        case .sendFailed: "send_failed"
        case .tunWriteFailed: "tun_write_failed"
        case .malformedMobilityHeader: "malformed_mobility_header"
        case .unexpectedMobilityMessage: "unexpected_mobility_message"
        case .signallingBacklog: "signalling_backlog"
        case .noPathToHomeAgent: "no_path_to_home_agent"
        case .notFromHomeAgent: "not_from_home_agent"
        case .sequenceReservationPending: "sequence_reservation_pending"
        case .malformedOffloadPacket: "malformed_offload_packet"
        }
    }
}

/// Counters of one data-plane thread: plain integers, no atomics; published now and then as a whole.
public struct TunnelCounters: Sendable {
    /// Inner packets read from the TUN device and sent to the peer, and their octets (inner).
    public var packetsSent: UInt64 = 0
    public var octetsSent: UInt64 = 0
    /// Inner packets received from the peer and written to the TUN device, and their octets.
    public var packetsReceived: UInt64 = 0
    public var octetsReceived: UInt64 = 0
    public var keepalivesSent: UInt64 = 0
    public var keepalivesReceived: UInt64 = 0
    /// Times a binding's outer address moved to a newer authenticated packet's source.
    public var bindingMoves: UInt64 = 0
    /// Mobility Headers (PType 8) sealed and sent / authenticated and received.
    public var mobilityHeadersSent: UInt64 = 0
    public var mobilityHeadersReceived: UInt64 = 0
    /// With offloads: TSO/USO super-packets read from the TUN device and split, and coalesced (GRO)
    /// super-packets written to it. Each carried several of the inner packets counted above.
    public var superPacketsRead: UInt64 = 0
    public var superPacketsWritten: UInt64 = 0
    /// With `tunnel.crypto-threads` > 1: batches whose crypto was spread over the lanes (docs/tunnel.md).
    public var cryptoBatchesSplit: UInt64 = 0
    public var dataChannelDrops = DataChannelDropCounters()
    public var tunnelDrops = [UInt64](repeating: 0, count: TunnelDropReason.allCases.count)

    public init() {}

    @inline(__always)
    public mutating func drop(_ reason: TunnelDropReason) { tunnelDrops[Int(reason.rawValue)] &+= 1 }

    @inline(__always)
    public mutating func drop(_ reason: DataChannelDropReason) { dataChannelDrops.record(reason) }

    /// The sum of `self` and `other`.
    public func adding(_ other: TunnelCounters) -> TunnelCounters {
        var sum = self
        sum.packetsSent &+= other.packetsSent
        sum.octetsSent &+= other.octetsSent
        sum.packetsReceived &+= other.packetsReceived
        sum.octetsReceived &+= other.octetsReceived
        sum.keepalivesSent &+= other.keepalivesSent
        sum.keepalivesReceived &+= other.keepalivesReceived
        sum.bindingMoves &+= other.bindingMoves
        sum.mobilityHeadersSent &+= other.mobilityHeadersSent
        sum.mobilityHeadersReceived &+= other.mobilityHeadersReceived
        sum.superPacketsRead &+= other.superPacketsRead
        sum.superPacketsWritten &+= other.superPacketsWritten
        sum.cryptoBatchesSplit &+= other.cryptoBatchesSplit
        for reason in DataChannelDropReason.allCases {
            sum.dataChannelDrops.add(other.dataChannelDrops[reason], for: reason)
        }
        for index in sum.tunnelDrops.indices { sum.tunnelDrops[index] &+= other.tunnelDrops[index] }
        return sum
    }

    /// Every drop, by its label, without zeros: for logs and the status file.
    public var dropsByLabel: [String: UInt64] {
        var result: [String: UInt64] = [:]
        for reason in DataChannelDropReason.allCases where dataChannelDrops[reason] > 0 {
            result[reason.label] = dataChannelDrops[reason]
        }
        for reason in TunnelDropReason.allCases where tunnelDrops[Int(reason.rawValue)] > 0 {
            result[reason.label] = tunnelDrops[Int(reason.rawValue)]
        }
        return result
    }
}
