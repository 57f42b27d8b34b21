internal import COpenSSL

/// Comparisons whose running time does not depend on where two secrets differ.
public enum ConstantTime {
    /// True when the first `count` octets at `a` and `b` are equal; time depends only on `count`.
    @inline(__always)
    public static func equal(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, count: Int) -> Bool {
        CRYPTO_memcmp(a, b, count) == 0
    }

    /// True when `a` and `b` have the same length and contents; time depends only on the lengths.
    public static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.withUnsafeBytes { x in
            b.withUnsafeBytes { y in
                guard x.count == y.count else { return false }
                guard let xp = x.baseAddress, let yp = y.baseAddress else { return true }
                return CRYPTO_memcmp(xp, yp, x.count) == 0
            }
        }
    }
}

/// Overwrites memory that held key material, in a way the compiler may not elide (OPENSSL_cleanse).
public func secureZero(_ buffer: UnsafeMutableRawBufferPointer) {
    guard let base = buffer.baseAddress, buffer.count > 0 else { return }
    OPENSSL_cleanse(base, buffer.count)
}
