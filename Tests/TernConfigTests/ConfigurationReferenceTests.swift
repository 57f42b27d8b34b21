import Foundation
@testable import TernConfig
import TernTestSupport
import Testing

/// docs/configuration.md must name every field the parsers accept, each in its role's section, and its
/// tables must not name fields that do not exist. The field lists are the ones the parsers check keys
/// against (`mapping(allowed:)`), so a field added to a parser fails this test until it is documented.
@Suite("docs/configuration.md names every field")
struct ConfigurationReferenceTests {
    static let document = repositoryText("docs/configuration.md")

    /// The text under the level-2 heading that starts with `title`, up to the next level-2 heading.
    static func section(_ title: String, of text: String = document) -> String {
        var lines: [Substring] = []
        var inside = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("## ") { inside = line.dropFirst(3).hasPrefix(title) }
            if inside { lines.append(line) }
        }
        return lines.joined(separator: "\n")
    }

    /// The text under the level-3 heading `title` inside `text`, up to the next level-3 heading.
    static func subsection(_ title: String, of text: String) -> String {
        var lines: [Substring] = []
        var inside = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("### ") { inside = line.dropFirst(4).hasPrefix(title) }
            if inside { lines.append(line) }
        }
        return lines.joined(separator: "\n")
    }

    /// What documents one role: its own section and its part of "Added in this release".
    static func documentation(of role: String) -> String {
        section(role) + "\n" + subsection(role, of: section("Added in this release"))
    }

    /// The dotted names of every field: `section.field` for the sections in `sections`, the root field
    /// itself otherwise. Root fields in `listed` are lists of mappings: `mobile-nodes[].name`.
    static func fieldNames(root: [String], sections: [String: [String]], listed: Set<String> = []) -> [String] {
        root.flatMap { field -> [String] in
            guard let children = sections[field] else { return [field] }
            let prefix = listed.contains(field) ? field + "[]." : field + "."
            return children.map { prefix + $0 }
        }
    }

    /// The first backquoted name of each table row in `text`: the fields its tables document.
    static func tabulatedNames(in text: String) -> [String] {
        text.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("| `") else { return nil }
            let name = line.dropFirst(3).prefix { $0 != "`" }
            return String(name)
        }
    }

    static func check(role: String, names: [String], rootFields: [String], sections: [String: [String]]) {
        let text = documentation(of: role)
        #expect(!text.isEmpty, "docs/configuration.md has no section \"## \(role)\"")
        // A root field this test knows no sub-fields of is a scalar (`keepalive`) or a section added to the
        // parser since (`metrics`): then naming any of its fields (`metrics.listen`) will do, until its
        // field list is added to `sections` in the test.
        let missing = names.filter { name in
            !text.contains("`\(name)`") && !(rootFields.contains(name) && text.contains("`\(name)."))
        }
        #expect(missing.isEmpty, "docs/configuration.md does not document these \(role) fields: \(missing)")
        // The role's own section documents only fields that exist (not "Added in this release").
        let stale = tabulatedNames(in: section(role)).filter { name in
            !names.contains(name) && !rootFields.contains { name.hasPrefix($0 + ".") && sections[$0] == nil }
        }
        #expect(stale.isEmpty, "docs/configuration.md documents \(role) fields the parser does not accept: \(stale)")
    }

    @Test("Home Agent: every field of HomeAgentConfiguration")
    func homeAgent() {
        let sections: [String: [String]] = [
            "listen": HomeAgentConfiguration.listenFields, "tunnel": HomeAgentConfiguration.tunnelFields,
            "mobile-nodes": HomeAgentConfiguration.mobileNodeFields, "hac": YAMLMapping.controllerServerFields,
            "binding": HomeAgentConfiguration.bindingFields, "gateway": HomeAgentConfiguration.gatewayFields,
        ]
        let names = Self.fieldNames(root: HomeAgentConfiguration.fields, sections: sections, listed: ["mobile-nodes"])
        #expect(names.contains("mobile-nodes[].spi") && names.contains("hac.sa-validity") && names.contains("status-file"))
        Self.check(role: "Home Agent", names: names, rootFields: HomeAgentConfiguration.fields, sections: sections)
    }

    @Test("Mobile Node: every field of MobileNodeConfiguration")
    func mobileNode() {
        let sections: [String: [String]] = [
            "home-agent": MobileNodeConfiguration.homeAgentFields, "hac": YAMLMapping.controllerClientFields,
            "tunnel": MobileNodeConfiguration.tunnelFields, "security-association": MobileNodeConfiguration.associationFields,
            "binding": MobileNodeConfiguration.bindingFields,
        ]
        let names = Self.fieldNames(root: MobileNodeConfiguration.fields, sections: sections)
        #expect(names.contains("tunnel.full-tunnel") && names.contains("hac.pinned-certificate") && names.contains("keepalive"))
        Self.check(role: "Mobile Node", names: names, rootFields: MobileNodeConfiguration.fields, sections: sections)
    }

    @Test("Key files: every field of KeyMaterial")
    func keyFile() {
        let text = Self.section("Key files")
        #expect(!text.isEmpty)
        for field in KeyMaterial.Field.allCases {
            #expect(text.contains("`\(field.rawValue)`"), "docs/configuration.md does not document `\(field.rawValue)`")
        }
    }

    @Test("The checks find what is missing")
    func checksCanFail() {
        let text = "## Home Agent\n| `listen.port` | port |\n## Added in this release\n### Home Agent\n| `x.y` |\n"
        #expect(Self.documentation(of: "Home Agent").isEmpty == false)
        let role = Self.section("Home Agent", of: text) + Self.subsection("Home Agent", of: Self.section("Added in this release", of: text))
        #expect(role.contains("`listen.port`") && role.contains("`x.y`") && !role.contains("`listen.addresses`"))
        #expect(Self.tabulatedNames(in: text) == ["listen.port", "x.y"])
        #expect(Self.fieldNames(root: ["a", "b"], sections: ["b": ["c"]], listed: ["b"]) == ["a", "b[].c"])
    }
}
