internal import COpenSSL

/// An OpenSSL call failed. This is never a verdict about a packet (a tag that does not verify is a
/// `false`, not an error): it means a context could not be built or the library refused an operation.
public struct CryptoError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The OpenSSL function or Tern operation that failed, e.g. `EVP_CipherInit_ex2`.
    public let operation: String
    /// OpenSSL's own words from its error queue, if it left any.
    public let detail: String

    package init(_ operation: String, detail: String? = nil) {
        self.operation = operation
        self.detail = detail ?? CryptoError.drainOpenSSLErrors()
    }

    public var description: String {
        detail.isEmpty ? "\(operation) failed" : "\(operation) failed: \(detail)"
    }

    /// Reads and clears this thread's OpenSSL error queue: reason strings only (`ERR_error_string_n`),
    /// never data. Shared with TernTLS.
    public static func drainOpenSSLErrors() -> String {
        var messages: [String] = []
        var buffer = [CChar](repeating: 0, count: 256)
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            ERR_error_string_n(code, &buffer, buffer.count)
            messages.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return messages.joined(separator: "; ")
    }
}

/// Key material that does not fit the algorithm it was given to.
public struct KeyLengthError: Error, Hashable, Sendable, CustomStringConvertible {
    public let algorithm: String
    public let expected: Int
    public let actual: Int

    public var description: String {
        "\(algorithm) needs a \(expected)-octet key, got \(actual) octets"
    }
}
