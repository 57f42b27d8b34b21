import TernOS

/// Reading configuration files: the only part of TernConfig that touches the file system besides
/// `KeyFile.load`. Everything else parses text that is handed in.
public enum ConfigFile {
    /// The text of the file at `path`: a regular file of at most `ConfigurationLimits.maximumFileSize`
    /// octets (checked before reading), valid UTF-8. Errors name the path.
    public static func read(path: String) throws(ConfigurationError) -> String {
        guard !path.isEmpty else { throw ConfigurationError(file: path, message: "no file named") }
        let octets: [UInt8]
        do {
            octets = try FileTrust.readRegularFile(path, limit: ConfigurationLimits.maximumFileSize)
        } catch {
            throw ConfigurationError(file: path, message: readFailure(error, opening: "cannot open"))
        }
        return try text(octets, path: path)
    }
}

extension ConfigFile {
    /// Refuses a configuration file that someone other than root (or the user Tern runs as) could have
    /// written: the file, its directory, and every link and directory on a symbolic link chain to it
    /// (TernOS ``FileTrust``, as sshd's StrictModes). Called by the daemons before every load, at start
    /// and on SIGHUP; the parsers themselves stay pure.
    public static func checkTrusted(path: String) throws(ConfigurationError) {
        if let reason = FileTrust.configurationViolation(path) {
            throw ConfigurationError(file: path, message: "refused: \(reason)")
        }
    }
}

/// The message for a file that could not be read: `opening: strerror (errno)` when it could not be opened.
func readFailure(_ error: FileReadError, opening: String) -> String {
    switch error {
    case .cannotOpen(let error): "\(opening): \(error.explanation)"
    case .refused, .tooLarge, .system: error.description
    }
}

/// The octets as UTF-8 text; refused otherwise.
func text(_ octets: [UInt8], path: String) throws(ConfigurationError) -> String {
    guard let text = String(validating: octets, as: UTF8.self) else {
        throw ConfigurationError(file: path, message: "the file is not valid UTF-8 text")
    }
    return text
}
