/// `log-level`: how much a daemon logs, by the names swift-log gives its levels. Reloadable (SIGHUP);
/// `--log-level` on the command line overrides it.
public enum LogLevel: String, Sendable, Hashable, CaseIterable {
    case trace, debug, info, notice, warning, error, critical
}

extension YAMLField {
    func logLevel() throws(ConfigurationError) -> LogLevel {
        let text = try scalar("a log level")
        guard let level = LogLevel(rawValue: text) else {
            throw valueError(
                "\(shown(text)) is not a log level (\(LogLevel.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        return level
    }
}
