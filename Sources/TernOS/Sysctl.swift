#if canImport(Glibc)
import Glibc
#endif

/// Kernel parameters under `/proc/sys` (sysctl(8) without the subprocess), read and written through
/// ``SystemCall`` like every other system call.
///
/// `/proc/sys/net` belongs to the network namespace of the process that opens it, so the values read
/// and written are the calling process's namespace's, as `sysctl -w` run there would see them.
public enum Sysctl {
    /// The largest value read: every parameter Tern touches is a short line of text.
    public static let maximumValueLength = 4096

    /// The file behind a dotted name: `net.ipv4.ip_forward` → `/proc/sys/net/ipv4/ip_forward`. As in
    /// sysctl(8), a `/` inside a component stands for a dot, for interface names that hold one:
    /// `net.ipv6.conf.eth0/100.forwarding` → `/proc/sys/net/ipv6/conf/eth0.100/forwarding`.
    public static func path(_ name: String) -> String {
        "/proc/sys/"
            + name.split(separator: ".", omittingEmptySubsequences: false)
            .map { String($0.map { $0 == "/" ? "." : $0 }) }.joined(separator: "/")
    }

    /// The dotted name of a parameter of interface `interface` under `prefix`, e.g.
    /// `net.ipv6.conf` + `tern0` + `router_solicitations`; a dot in the interface name is written `/`.
    public static func name(_ prefix: String, interface: String, _ parameter: String) -> String {
        "\(prefix).\(String(interface.map { $0 == "." ? "/" : $0 })).\(parameter)"
    }

    /// The parameter's value without the trailing newline. An absent parameter (e.g. IPv6 disabled)
    /// fails with errno ENOENT.
    public static func read(_ name: String) throws(SystemCallError) -> String {
        let file = path(name)
        let descriptor = FileDescriptor(
            taking: try SystemCall.call("open \(file)") { open(file, O_RDONLY | O_CLOEXEC) })
        var buffer = [UInt8](repeating: 0, count: maximumValueLength)
        let count = try buffer.withUnsafeMutableBytes { raw in
            Result { () throws(SystemCallError) -> Int in
                try SystemCall.call("read \(file)") { Glibc.read(descriptor.rawValue, raw.baseAddress, raw.count) }
            }
        }.get()
        var text = String(decoding: buffer[..<count], as: UTF8.self)
        while text.last == "\n" { text.removeLast() }
        return text
    }

    /// Writes `value` to the parameter, in one write(2) as the kernel wants.
    public static func write(_ name: String, _ value: String) throws(SystemCallError) {
        let file = path(name)
        let descriptor = FileDescriptor(
            taking: try SystemCall.call("open \(file) for writing") { open(file, O_WRONLY | O_CLOEXEC) })
        let bytes = Array((value + "\n").utf8)
        let written = try bytes.withUnsafeBytes { raw in
            Result { () throws(SystemCallError) -> Int in
                try SystemCall.call("write \(file)") { Glibc.write(descriptor.rawValue, raw.baseAddress, raw.count) }
            }
        }.get()
        guard written == bytes.count else { throw SystemCallError("write \(file) (short write)", errno: EIO) }
    }
}

/// The record of a sysctl's value from before a daemon changed it, in a root-only file (the control
/// socket's directory, /run/tern by default: a reboot resets the sysctls and the records together).
/// Written, durably, before the change and removed after the clean restore, so that after a kill -9 the
/// next start restores the original instead of taking the crashed run's value for it (issue 13 9c).
public enum SysctlRecord {
    /// The longest value a record holds: Tern records only boolean-like sysctls ("0", "1", "2").
    public static let maximumValueLength = 3

    /// The recorded value, if the file exists and holds a plain small number; anything else is ignored.
    public static func read(_ path: String) -> String? {
        guard let text = try? PrivateFile.read(path, limit: 16) else { return nil }
        let value = text.filter { !$0.isWhitespace }
        guard !value.isEmpty, value.count <= maximumValueLength, value.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            return nil
        }
        return value
    }

    /// Records `value` (mode 0600, synced before it is renamed into place).
    public static func write(_ path: String, _ value: String) throws(SystemCallError) {
        try PrivateFile.replace(path, contents: Array((value + "\n").utf8), durable: true)
    }

    public static func remove(_ path: String) {
        try? PrivateFile.remove(path)
    }
}
