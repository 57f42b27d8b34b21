public import Foundation

/// The repository's root, from this file's path (Tests/TernTestSupport/Repository.swift).
public let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// The text of the repository's file at `relativePath` (e.g. `docs/configuration.md`); "" when it cannot be
/// read, so a test that looks for anything in it fails.
public func repositoryText(_ relativePath: String) -> String {
    (try? String(contentsOf: repositoryRoot.appendingPathComponent(relativePath), encoding: .utf8)) ?? ""
}
