internal import CTernOS
#if canImport(Glibc)
import Glibc
#endif

/// A TUN device (IFF_TUN | IFF_NO_PI): each read is one IP packet, each write sends one into the kernel.
///
/// Non-blocking. Room is left for IFF_VNET_HDR and IFF_MULTI_QUEUE (the performance issue) through
/// `extraFlags`.
public final class TunDevice: @unchecked Sendable {
    public let descriptor: FileDescriptor
    /// The interface's name as the kernel knows it.
    public let name: String
    /// Its interface index.
    public let index: UInt32

    /// Linux interface names are at most 15 characters (IFNAMSIZ − 1).
    public static let maximumNameLength = 15

    /// Opens (creating if needed) the TUN interface `name`.
    public init(name: String, extraFlags: Int32 = 0) throws(SystemCallError) {
        guard !name.isEmpty, name.utf8.count <= Self.maximumNameLength, !name.contains("/"), !name.contains(" ") else {
            throw SystemCallError("TUN name '\(name)' (1–15 characters, no '/' or spaces)", errno: EINVAL)
        }
        var actual = [CChar](repeating: 0, count: 16)
        let fd = try SystemCall.call("open /dev/net/tun and TUNSETIFF \(name)") {
            tern_tun_open(name, extraFlags, &actual)
        }
        descriptor = FileDescriptor(taking: fd)
        let actualName = String(decoding: actual.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        self.name = actualName
        let index = tern_if_index(actualName)
        guard index != 0 else { throw SystemCallError("if_nametoindex \(actualName)", errno: Glibc.errno) }
        self.index = index
        quietRouterSolicitations()
    }

    /// A tunnel has no router to find: without this the kernel sends IPv6 Router Solicitations out of
    /// the device once it is up, for ever (`router_solicitations` −1 by default, backing off from 4 s to
    /// an hour), and each one wakes the data plane and, on a Mobile Node, crosses the tunnel to be
    /// dropped by the Home Agent (DESIGN.md: idle is idle). Set before the device goes up, so that none
    /// is sent. Best effort: without IPv6 there is nothing to quiet.
    private func quietRouterSolicitations() {
        _ = try? Sysctl.write(Sysctl.name("net.ipv6.conf", interface: name, "router_solicitations"), "0")
    }

    /// Reads one packet into `buffer`; returns its length, or nil when none is waiting.
    @inline(__always)
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemCallError) -> Int? {
        try SystemCall.nonBlocking("read \(name)") { Glibc.read(descriptor.rawValue, buffer.baseAddress, buffer.count) }
    }

    /// Writes one packet. Returns false when the kernel's queue is full (the packet is dropped).
    @inline(__always)
    public func write(_ packet: UnsafeRawBufferPointer) throws(SystemCallError) -> Bool {
        try SystemCall.nonBlocking("write \(name)") { Glibc.write(descriptor.rawValue, packet.baseAddress, packet.count) } != nil
    }
}
