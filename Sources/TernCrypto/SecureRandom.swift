internal import COpenSSL

/// The system OpenSSL's CSPRNG (RAND_bytes), for keys, nonces and random first sequence numbers.
public enum SecureRandom {
    /// Fills `buffer` with unpredictable octets.
    public static func fill(_ buffer: UnsafeMutableRawBufferPointer) throws(CryptoError) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        guard RAND_bytes(base.assumingMemoryBound(to: UInt8.self), Int32(buffer.count)) == 1 else {
            throw CryptoError("RAND_bytes")
        }
    }

    /// `count` unpredictable octets.
    public static func bytes(count: Int) throws(CryptoError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        try out.withUnsafeMutableBytes { raw in capturing { () throws(CryptoError) in try fill(raw) } }.get()
        return out
    }
}
