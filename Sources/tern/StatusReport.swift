import Foundation
import TernController
import TernOS
import TernProtocol
import TernTunnel

/// What a daemon reports about itself: in the status file and in the final log line. No key ever.
struct StatusReport: Codable, Sendable {
    /// One Mobile Node as the Home Agent sees it.
    struct Binding: Codable, Sendable {
        var mobileNode: String
        var spi: UInt32
        /// Where packets go: the outer address:port of the newest authenticated packet.
        var endpoint: String?
        /// Whether the binding cache holds a live registration (data to the MN flows only then).
        var registered: Bool
        var careOfAddress: String?
        var behindNAT: Bool?
        var lifetimeSeconds: UInt32?
        var expiresInSeconds: Double?
        var ipv4HomeAddress: String?
        var sequenceNumber: UInt16?
    }

    /// The Mobile Node's registration and its last handovers.
    struct Registration: Codable, Sendable {
        var state: String
        var careOfAddress: String?
        var homeAgent: String?
        var grantedLifetimeSeconds: UInt32?
        var natKeepaliveSeconds: UInt32?
        var ipv4HomeAddress: String?
        var handovers: [Handover]

        init(_ registration: MobileNodeRegistration) {
            state = registration.state
            careOfAddress = registration.careOfAddress?.description
            homeAgent = registration.homeAgent?.description
            grantedLifetimeSeconds = registration.grantedLifetimeSeconds
            natKeepaliveSeconds = registration.natKeepaliveSeconds
            ipv4HomeAddress = registration.ipv4HomeAddress?.description
            handovers = registration.handovers.map(Handover.init)
        }
    }

    /// A handover's timeline: milliseconds after the change was detected.
    struct Handover: Codable, Sendable {
        var trigger: String
        var from: String?
        var to: String?
        var homeAgent: String?
        var detectedAt: Double
        var bindingUpdateSentAfterMilliseconds: Double?
        var acknowledgedAfterMilliseconds: Double?
        var firstDataAfterMilliseconds: Double?

        init(_ record: HandoverRecord) {
            trigger = record.trigger.rawValue
            from = record.from?.description
            to = record.to?.description
            homeAgent = record.homeAgent?.description
            detectedAt = record.detectedAt
            bindingUpdateSentAfterMilliseconds = record.bindingUpdateSentAfterMilliseconds
            acknowledgedAfterMilliseconds = record.acknowledgedAfterMilliseconds
            firstDataAfterMilliseconds = record.firstDataAfterMilliseconds
        }
    }

    var role: String
    var packetsSent: UInt64
    var octetsSent: UInt64
    var packetsReceived: UInt64
    var octetsReceived: UInt64
    var keepalivesSent: UInt64
    var keepalivesReceived: UInt64
    var mobilityHeadersSent: UInt64
    var mobilityHeadersReceived: UInt64
    var bindingMoves: UInt64
    var superPacketsRead: UInt64
    var superPacketsWritten: UInt64
    var cryptoBatchesSplit: UInt64
    var drops: [String: UInt64]
    var bindings: [Binding]
    var registration: Registration?
    /// The co-located controller's connection counters (HA with `hac:` only).
    var controller: ControllerStatistics?

    init(
        role: String, counters: TunnelCounters, bindings: [Binding], registration: Registration? = nil,
        controller: ControllerStatistics? = nil
    ) {
        self.controller = controller
        self.role = role
        packetsSent = counters.packetsSent
        octetsSent = counters.octetsSent
        packetsReceived = counters.packetsReceived
        octetsReceived = counters.octetsReceived
        keepalivesSent = counters.keepalivesSent
        keepalivesReceived = counters.keepalivesReceived
        mobilityHeadersSent = counters.mobilityHeadersSent
        mobilityHeadersReceived = counters.mobilityHeadersReceived
        bindingMoves = counters.bindingMoves
        superPacketsRead = counters.superPacketsRead
        superPacketsWritten = counters.superPacketsWritten
        cryptoBatchesSplit = counters.cryptoBatchesSplit
        drops = counters.dropsByLabel
        self.bindings = bindings
        self.registration = registration
    }

    /// One line for the log: counters and the drops that happened.
    var summary: String {
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

extension StatusReport.Binding {
    init(_ binding: HomeAgentBinding, now: UInt64) {
        mobileNode = binding.mobileNode
        spi = binding.securityParameterIndex.rawValue
        endpoint = binding.endpoint?.description
        let entry = binding.entry.flatMap { $0.expiresAt > now ? $0 : nil }
        registered = entry != nil
        careOfAddress = entry?.careOfAddress?.description
        behindNAT = entry?.behindNAT
        lifetimeSeconds = entry?.lifetimeSeconds
        expiresInSeconds = entry.map { Double($0.expiresAt - now) / 1e9 }
        ipv4HomeAddress = entry?.ipv4HomeAddress?.description
        sequenceNumber = entry?.sequenceNumber
    }
}

/// A handover in one line for the log.
struct HandoverSummary {
    let text: String

    init(_ record: HandoverRecord) {
        func ms(_ value: Double?) -> String { value.map { String(format: "%.1f ms", $0) } ?? "—" }
        text = "\(record.trigger.rawValue) \(record.from?.description ?? "none") → \(record.to?.description ?? "none")"
            + ": binding update after \(ms(record.bindingUpdateSentAfterMilliseconds)), acknowledged after "
            + "\(ms(record.acknowledgedAfterMilliseconds)), first data after \(ms(record.firstDataAfterMilliseconds))"
    }
}
