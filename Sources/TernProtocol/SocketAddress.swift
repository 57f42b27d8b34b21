/// An IP address and UDP port: the outer address of a datagram. A pure value; TernOS reads and writes
/// it as a `sockaddr` (`SocketAddress+sockaddr` there), so the role cores can name peers without C.
public struct SocketAddress: Hashable, Sendable, CustomStringConvertible {
    public var address: IPAddress
    public var port: UInt16

    public init(_ address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    /// `192.0.2.1:7872` or `[2001:db8::1]:7872`.
    public var description: String {
        address.isIPv4 ? "\(address):\(port)" : "[\(address)]:\(port)"
    }
}
