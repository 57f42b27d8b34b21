import Glibc
import TernOS

/// Reading configuration files: the only part of TernConfig that touches the file system besides
/// `KeyFile.load`. Everything else parses text that is handed in.
public enum ConfigFile {
    /// The text of the file at `path`: a regular file of at most `ConfigurationLimits.maximumFileSize`
    /// octets (checked before reading), valid UTF-8. Errors name the path.
    public static func read(path: String) throws(ConfigurationError) -> String {
        let descriptor = try openFile(path, flags: O_RDONLY | O_CLOEXEC)
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw ioError(path, "cannot stat") }
        guard status.st_mode & S_IFMT == S_IFREG else {
            throw ConfigurationError(file: path, message: "not a regular file")
        }
        return try readText(descriptor, path: path, size: Int(status.st_size), limit: ConfigurationLimits.maximumFileSize)
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

/// `open(2)` retried on EINTR; failures name the path and errno.
func openFile(_ path: String, flags: Int32) throws(ConfigurationError) -> Int32 {
    guard !path.isEmpty else { throw ConfigurationError(file: path, message: "no file named") }
    while true {
        let descriptor = open(path, flags)
        if descriptor >= 0 { return descriptor }
        if errno != EINTR { throw ioError(path, "cannot open") }
    }
}

/// The file's contents as UTF-8 text, refusing more than `limit` octets: the size from `fstat` is
/// checked first, and reading stops one octet past the limit in case the file grew meanwhile.
func readText(_ descriptor: Int32, path: String, size: Int, limit: Int) throws(ConfigurationError) -> String {
    guard size <= limit else {
        throw ConfigurationError(file: path, message: "the file is \(size) octets; at most \(limit) are allowed")
    }
    var bytes = [UInt8](repeating: 0, count: limit + 1)
    var count = 0
    while count < bytes.count {
        let got = bytes.withUnsafeMutableBytes { buffer in
            Glibc.read(descriptor, buffer.baseAddress! + count, buffer.count - count)
        }
        if got == 0 { break }
        if got < 0 {
            if errno == EINTR { continue }
            throw ioError(path, "cannot read")
        }
        count += got
    }
    guard count <= limit else {
        throw ConfigurationError(file: path, message: "the file is larger than \(limit) octets")
    }
    bytes.removeSubrange(count...)
    guard let text = String(validating: bytes, as: UTF8.self) else {
        throw ConfigurationError(file: path, message: "the file is not valid UTF-8 text")
    }
    return text
}

/// `what: strerror(errno)` at `path`, read from errno right away.
func ioError(_ path: String, _ what: String) -> ConfigurationError {
    let code = errno
    return ConfigurationError(file: path, message: "\(what): \(String(cString: strerror(code))) (errno \(code))")
}
