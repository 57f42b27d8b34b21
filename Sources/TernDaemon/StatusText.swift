import Foundation

extension StatusReport {
    /// The report as the status file and the control socket give it: JSON, keys sorted, indented.
    public func json() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return Array(try encoder.encode(self))
    }

    /// A report the control socket sent (`tern status`).
    /// - Throws: what the decoder found wrong (an answer that is not a report).
    public init(json: [UInt8]) throws {
        self = try JSONDecoder().decode(StatusReport.self, from: Data(json))
    }

    /// The report for people (`tern status` without `--json`): the counters, then one line per binding, and
    /// the registration with its last ``maximumHandoversShown`` handovers.
    public var text: String {
        var lines = ["\(role): \(summary)"]
        if let controller { lines.append("  \(controller.summary)") }
        for binding in bindings {
            var line = "  \(binding.mobileNode) (SPI \(binding.spi)): "
            if binding.registered {
                line += "registered, endpoint \(binding.endpoint ?? "?")"
                if let coa = binding.careOfAddress { line += ", care-of \(coa)" }
                if binding.behindNAT == true { line += ", behind NAT" }
                if let left = binding.expiresInSeconds { line += String(format: ", %.0f s left", left) }
            } else {
                line += "no live binding" + (binding.endpoint.map { " (last seen at \($0))" } ?? "")
            }
            lines.append(line)
        }
        if let registration {
            var line = "  \(registration.state)"
            if let coa = registration.careOfAddress { line += ", care-of \(coa)" }
            if let ha = registration.homeAgent { line += ", home agent \(ha)" }
            if let lifetime = registration.grantedLifetimeSeconds { line += ", lifetime \(lifetime) s" }
            if let nat = registration.natKeepaliveSeconds { line += ", behind NAT (keepalive \(nat) s)" }
            lines.append(line)
            for handover in registration.handovers.suffix(Self.maximumHandoversShown) {
                func ms(_ value: Double?) -> String { value.map { String(format: "%.1f", $0) } ?? "—" }
                lines.append(
                    "  handover \(handover.trigger) \(handover.from ?? "none") → \(handover.to ?? "none"): BU \(ms(handover.bindingUpdateSentAfterMilliseconds)) ms, BA \(ms(handover.acknowledgedAfterMilliseconds)) ms, first data \(ms(handover.firstDataAfterMilliseconds)) ms"
                )
            }
        }
        return lines.joined(separator: "\n")
    }

    /// How many of the latest handovers ``text`` lists.
    public static let maximumHandoversShown = 5
}
