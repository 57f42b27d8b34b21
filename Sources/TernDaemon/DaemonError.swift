/// Why a daemon cannot start or go on: a sentence for standard error or the log (never a key), and
/// whether the configuration is at fault (the executable exits 78, EX_CONFIG, then; else 1).
public struct DaemonError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public var configuration: Bool

    public init(_ description: String, configuration: Bool = false) {
        self.description = description
        self.configuration = configuration
    }
}
