internal import CTernOS
import TernProtocol
#if canImport(Glibc)
import Glibc
#endif

/// How the kernel's packet info (IP_PKTINFO / IPV6_PKTINFO, CTernOS' `tern_local_address`) becomes a
/// ``LocalAddress`` and back; internal to TernOS, so no C type leaves it.
extension LocalAddress {
    @inline(__always)
    init(_ raw: tern_local_address) {
        switch raw.family {
        case AF_INET:
            let value = withUnsafeBytes(of: raw.address) { UInt32(bigEndian: $0.loadUnaligned(as: UInt32.self)) }
            self.init(address: .v4(IPv4Address(rawValue: value)), interfaceIndex: raw.ifindex)
        case AF_INET6:
            let address = withUnsafeBytes(of: raw.address) { bytes in
                IPv6Address(
                    high: UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
                    low: UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
            }
            self.init(address: .v6(address), interfaceIndex: raw.ifindex)
        default:
            self.init(address: nil, interfaceIndex: raw.ifindex)
        }
    }

    /// The packet info to send with (family 0 when unspecified: routing chooses).
    @inline(__always)
    var packetInfo: tern_local_address {
        var raw = tern_local_address()
        raw.ifindex = interfaceIndex
        switch address {
        case .v4(let v4):
            raw.family = AF_INET
            withUnsafeMutableBytes(of: &raw.address) { $0.storeBytes(of: v4.rawValue.bigEndian, as: UInt32.self) }
        case .v6(let v6):
            raw.family = AF_INET6
            withUnsafeMutableBytes(of: &raw.address) { bytes in
                bytes.storeBytes(of: v6.high.bigEndian, toByteOffset: 0, as: UInt64.self)
                bytes.storeBytes(of: v6.low.bigEndian, toByteOffset: 8, as: UInt64.self)
            }
        case nil:
            raw.family = 0
        }
        return raw
    }
}
