import Foundation
public import TernController
import TernOS
import TernProtocol

/// What a daemon reports about itself: in the status file and in the final log line. No key ever.
public struct StatusReport: Codable, Sendable {
    /// One Mobile Node as the Home Agent sees it.
    public struct Binding: Codable, Sendable {
        public var mobileNode: String
        public var spi: UInt32
        /// Where packets go: the outer address:port of the newest authenticated packet.
        public var endpoint: String?
        /// Whether the binding cache holds a live registration (data to the MN flows only then).
        public var registered: Bool
        public var careOfAddress: String?
        public var behindNAT: Bool?
        public var lifetimeSeconds: UInt32?
        public var expiresInSeconds: Double?
        public var ipv4HomeAddress: String?
        public var sequenceNumber: UInt16?
    }

    /// The Mobile Node's registration and its last handovers.
    public struct Registration: Codable, Sendable {
        public var state: String
        public var careOfAddress: String?
        public var homeAgent: String?
        public var grantedLifetimeSeconds: UInt32?
        public var natKeepaliveSeconds: UInt32?
        public var ipv4HomeAddress: String?
        public var handovers: [Handover]
    }

    /// A handover's timeline: milliseconds after the change was detected.
    public struct Handover: Codable, Sendable {
        public var trigger: String
        public var from: String?
        public var to: String?
        public var homeAgent: String?
        public var detectedAt: Double
        public var bindingUpdateSentAfterMilliseconds: Double?
        public var acknowledgedAfterMilliseconds: Double?
        public var firstDataAfterMilliseconds: Double?
    }

    public var role: String
    public var packetsSent: UInt64
    public var octetsSent: UInt64
    public var packetsReceived: UInt64
    public var octetsReceived: UInt64
    public var keepalivesSent: UInt64
    public var keepalivesReceived: UInt64
    public var mobilityHeadersSent: UInt64
    public var mobilityHeadersReceived: UInt64
    public var bindingMoves: UInt64
    public var superPacketsRead: UInt64
    public var superPacketsWritten: UInt64
    public var cryptoBatchesSplit: UInt64
    public var drops: [String: UInt64]
    public var bindings: [Binding]
    public var registration: Registration?
    /// The co-located controller's connection counters (HA with `hac:` only).
    public var controller: ControllerStatistics?

    /// One line for the log: counters and the drops that happened.
    public var summary: String {
        let dropText = drops.isEmpty ? "none" : drops.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            .joined(separator: " ")
        return "sent \(packetsSent) packets (\(octetsSent) octets), received \(packetsReceived) packets "
            + "(\(octetsReceived) octets), keepalives sent \(keepalivesSent) received \(keepalivesReceived), "
            + "mobility headers sent \(mobilityHeadersSent) received \(mobilityHeadersReceived), "
            + "binding moves \(bindingMoves), super-packets read \(superPacketsRead) written \(superPacketsWritten), "
            + "crypto batches split \(cryptoBatchesSplit), "
            + "drops: \(dropText)"
    }
}

/// A handover in one line for the log.
public struct HandoverSummary {
    public let text: String
}
