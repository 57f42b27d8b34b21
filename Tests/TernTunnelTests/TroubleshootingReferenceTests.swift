import Foundation
import TernProtocol
import TernTunnel
import TernTestSupport
import Testing

/// docs/troubleshooting.md must explain every drop counter `tern status` can show (the labels of
/// `DataChannelDropReason` and `TunnelDropReason`, as in `TunnelCounters.dropsByLabel`) and every HAC
/// error status: a new reason fails this test until it is documented.
@Suite("docs/troubleshooting.md explains every drop reason")
struct TroubleshootingReferenceTests {
    static let document = repositoryText("docs/troubleshooting.md")

    /// The first backquoted name of each table row: what the tables explain.
    static let explained: Set<String> = Set(
        document.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("| `") else { return nil }
            return String(line.dropFirst(3).prefix { $0 != "`" })
        })

    @Test("Every data-channel drop label has a row", arguments: DataChannelDropReason.allCases)
    func dataChannel(reason: DataChannelDropReason) {
        let documented = Self.explained.contains(reason.label)
        #expect(documented, "docs/troubleshooting.md has no row for `\(reason.label)` (\(reason))")
    }

    @Test("Every tunnel drop label has a row", arguments: TunnelDropReason.allCases)
    func tunnel(reason: TunnelDropReason) {
        let documented = Self.explained.contains(reason.label)
        #expect(documented, "docs/troubleshooting.md has no row for `\(reason.label)`")
    }

    @Test("Every HAC error status is explained")
    func controllerStatus() {
        let missing = HACStatusCode.allCases.filter { $0.rawValue >= 400 && !Self.document.contains("| \($0.rawValue) |") }
        #expect(missing.isEmpty, "docs/troubleshooting.md does not explain \(missing)")
    }

    @Test("The row finder sees the document's tables")
    func rowsAreFound() {
        let found = ["unknown_spi", "no_binding", "no_such_reason"].map { Self.explained.contains($0) }
        #expect(found == [true, true, false])
    }
}
