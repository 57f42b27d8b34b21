public import CTernOS
public import TernOS
#if canImport(Glibc)
import Glibc
#endif

/// Where a Mobile Node is reached: the outer address:port of its newest authenticated packet, and the
/// local address that packet was sent to, which replies must come from (DESIGN.md: Replies).
public struct Endpoint: Sendable, Equatable, CustomStringConvertible {
    public var remote: SocketAddress
    public var local: tern_local_address

    public init(remote: SocketAddress, local: tern_local_address) {
        self.remote = remote
        self.local = local
    }

    public static func == (lhs: Endpoint, rhs: Endpoint) -> Bool {
        guard lhs.remote == rhs.remote, lhs.local.family == rhs.local.family else { return false }
        var left = lhs.local.address
        var right = rhs.local.address
        return memcmp(&left, &right, MemoryLayout.size(ofValue: left)) == 0
    }

    public var description: String { "\(remote)" }
}

extension tern_local_address: @retroactive @unchecked Sendable {}
