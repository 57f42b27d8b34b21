public import TernProtocol
#if canImport(Glibc)
import Glibc
#endif

/// How the kernel sees a ``SocketAddress`` (a pure value in TernProtocol): `sockaddr_in` / `sockaddr_in6`.
extension SocketAddress {
    /// Octets of storage that any `sockaddr` this type reads or writes needs (a `sockaddr_in6`).
    public static let storageLength = MemoryLayout<sockaddr_in6>.size

    /// Writes this address as `sockaddr_in` or `sockaddr_in6` at `storage` (at least ``storageLength``
    /// octets) and returns its length.
    @inline(__always)
    public func write(to storage: UnsafeMutableRawPointer) -> Int {
        switch address {
        case .v4(let v4):
            var raw = sockaddr_in()
            raw.sin_family = sa_family_t(AF_INET)
            raw.sin_port = port.bigEndian
            raw.sin_addr.s_addr = v4.rawValue.bigEndian
            storage.storeBytes(of: raw, as: sockaddr_in.self)
            return MemoryLayout<sockaddr_in>.size
        case .v6(let v6):
            var raw = sockaddr_in6()
            raw.sin6_family = sa_family_t(AF_INET6)
            raw.sin6_port = port.bigEndian
            withUnsafeMutableBytes(of: &raw.sin6_addr) { bytes in
                bytes.storeBytes(of: v6.high.bigEndian, toByteOffset: 0, as: UInt64.self)
                bytes.storeBytes(of: v6.low.bigEndian, toByteOffset: 8, as: UInt64.self)
            }
            storage.storeBytes(of: raw, as: sockaddr_in6.self)
            return MemoryLayout<sockaddr_in6>.size
        }
    }

    /// Reads a `sockaddr_in` or `sockaddr_in6` of `length` octets; nil for other families or short
    /// lengths. An IPv4-mapped IPv6 address is reported as IPv4.
    @inline(__always)
    public init?(reading storage: UnsafeRawPointer, length: Int) {
        guard length >= MemoryLayout<sa_family_t>.size else { return nil }
        let family = storage.loadUnaligned(as: sa_family_t.self)
        switch Int32(family) {
        case AF_INET where length >= MemoryLayout<sockaddr_in>.size:
            let raw = storage.loadUnaligned(as: sockaddr_in.self)
            self.init(.v4(IPv4Address(rawValue: UInt32(bigEndian: raw.sin_addr.s_addr))), port: UInt16(bigEndian: raw.sin_port))
        case AF_INET6 where length >= MemoryLayout<sockaddr_in6>.size:
            let raw = storage.loadUnaligned(as: sockaddr_in6.self)
            let address = withUnsafeBytes(of: raw.sin6_addr) { bytes in
                IPv6Address(
                    high: UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
                    low: UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
            }
            let port = UInt16(bigEndian: raw.sin6_port)
            if let mapped = address.mappedIPv4 {
                self.init(.v4(mapped), port: port)
            } else {
                self.init(.v6(address), port: port)
            }
        default:
            return nil
        }
    }

}
