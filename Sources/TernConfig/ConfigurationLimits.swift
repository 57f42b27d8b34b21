/// The bounds the parsers enforce, named so that messages and tests can refer to them.
public enum ConfigurationLimits {
    /// The largest configuration file read: 1 MiB.
    public static let maximumFileSize = 1 << 20
    /// The largest key file read: 64 KiB (four keys of at most `maximumKeyLength` octets need far less).
    public static let maximumKeyFileSize = 64 << 10
    /// Mobile Nodes one Home Agent serves.
    public static let maximumMobileNodes = 1024
    /// Entries in any address, prefix or route list.
    public static let maximumListLength = 64
    /// Characters in a Mobile Node's name.
    public static let maximumNameLength = 64
    /// Octets in one key (the longest any suite uses is 36: a 32-octet key and a 4-octet salt).
    public static let maximumKeyLength = 64
    /// Octets in a file path (PATH_MAX − 1).
    public static let maximumPathLength = 4095
    /// Characters in any one scalar value before it is refused without further looking.
    public static let maximumScalarLength = 4096
    /// Linux interface names: IFNAMSIZ − 1.
    public static let maximumInterfaceNameLength = 15
    /// The tunnel MTU bounds, and the IPv6 minimum link MTU (RFC 8200 §5).
    public static let mtuRange = 576...9000
    public static let minimumIPv6MTU = 1280
    /// `tunnel.crypto-threads`: threads sharing each data-plane thread's crypto, that thread included
    /// (docs/tunnel.md: crypto lanes). More than the cores only adds hand-offs.
    public static let cryptoThreadsRange = 1...8
    /// Keepalive interval in seconds; 0 turns keepalives off.
    public static let keepaliveRange = 0...3600
    /// Binding lifetimes in seconds: at least one 4-second unit, at most what the 16-bit Lifetime field
    /// of a Binding Update carries (RFC 6275 §6.1.7: 65 535 units of 4 s).
    public static let bindingLifetimeRange = 4...(65_535 * 4)
    /// The NAT keepalive the HA asks for (NAT Detection's refresh time, RFC 5555 §3.2.2), in seconds.
    public static let natKeepaliveRange = 1...3600
    /// The Home Agent's service addresses a Mobile Node may know: one per family.
    public static let maximumHomeAgentAddresses = 2
}
