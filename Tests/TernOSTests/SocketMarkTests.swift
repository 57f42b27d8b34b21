import Foundation
import Testing
import TernOS
import TernProtocol

/// SO_MARK on the TCP connection to the HAC: with the full tunnel its route is chosen with the tunnel's
/// mark, outside the tunnel (docs/gateway.md). The kernel reports the mark back through getsockopt.
@Suite("Firewall marks on sockets (root)")
struct SocketMarkTests {
    private func mark(of descriptor: Int32) throws -> UInt32 {
        var value: UInt32 = 0
        var length = socklen_t(MemoryLayout<UInt32>.size)
        guard getsockopt(descriptor, SOL_SOCKET, UDPSocket.SO_MARK, &value, &length) == 0 else {
            throw SystemCallError("getsockopt SO_MARK", errno: errno)
        }
        return value
    }

    @Test("TCPConnection.connect(firewallMark:) marks the socket before it connects; none by default")
    func tcpMark() throws {
        guard try requireRootForNetlink("SO_MARK needs CAP_NET_ADMIN (run as root)") else { return }
        let listener = try TCPListener(address: SocketAddress(IPAddress("127.0.0.1")!, port: 0))
        let address = try listener.localAddress()
        let marked = try TCPConnection.connect(to: address, deadline: .after(seconds: 5), firewallMark: 7872)
        #expect(try mark(of: marked.descriptor.rawValue) == 7872)
        let plain = try TCPConnection.connect(to: address, deadline: .after(seconds: 5))
        #expect(try mark(of: plain.descriptor.rawValue) == 0)
    }
}
