/// A set of Linux capabilities as the kernel shows it in /proc/PID/status: bit N is capability N
/// (include/uapi/linux/capability.h). Pure: parsing and printing only, no system calls.
public struct CapabilitySet: Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64

    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public static let empty = CapabilitySet(rawValue: 0)

    /// The capabilities the kernel numbers today (0 through CAP_CHECKPOINT_RESTORE, 40), by their
    /// libcap names. TernPrivileges checks each one it uses against libcap's `cap_from_name`.
    public static let names: [String] = [
        "cap_chown", "cap_dac_override", "cap_dac_read_search", "cap_fowner", "cap_fsetid", "cap_kill",
        "cap_setgid", "cap_setuid", "cap_setpcap", "cap_linux_immutable", "cap_net_bind_service",
        "cap_net_broadcast", "cap_net_admin", "cap_net_raw", "cap_ipc_lock", "cap_ipc_owner", "cap_sys_module",
        "cap_sys_rawio", "cap_sys_chroot", "cap_sys_ptrace", "cap_sys_pacct", "cap_sys_admin", "cap_sys_boot",
        "cap_sys_nice", "cap_sys_resource", "cap_sys_time", "cap_sys_tty_config", "cap_mknod", "cap_lease",
        "cap_audit_write", "cap_audit_control", "cap_setfcap", "cap_mac_override", "cap_mac_admin", "cap_syslog",
        "cap_wake_alarm", "cap_block_suspend", "cap_audit_read", "cap_perfmon", "cap_bpf", "cap_checkpoint_restore",
    ]

    public static let netAdmin = CapabilitySet(number: 12)
    public static let dacReadSearch = CapabilitySet(number: 2)

    public init(number: Int) {
        precondition((0..<64).contains(number), "capability numbers run from 0 to 63")
        rawValue = 1 << UInt64(number)
    }

    /// Parses a list such as `CAP_NET_ADMIN, cap_dac_read_search` (comma- or space-separated, any case;
    /// empty for no capability). Returns nil when a name is unknown.
    public init?(parsing list: some StringProtocol) {
        rawValue = 0
        for word in list.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" || $0 == "\n" }) {
            var name = word.lowercased()
            if !name.hasPrefix("cap_") { name = "cap_" + name }
            guard let number = Self.names.firstIndex(of: name) else { return nil }
            rawValue |= 1 << UInt64(number)
        }
    }

    /// Parses the hexadecimal form of /proc/PID/status (`0000000000001000`).
    public init?(hex: some StringProtocol) {
        guard !hex.isEmpty, hex.count <= 16, let value = UInt64(hex, radix: 16) else { return nil }
        rawValue = value
    }

    /// The capability numbers in the set, ascending.
    public var numbers: [Int] { (0..<64).filter { rawValue & (1 << UInt64($0)) != 0 } }

    public func contains(number: Int) -> Bool { (0..<64).contains(number) && rawValue & (1 << UInt64(number)) != 0 }

    public func union(_ other: CapabilitySet) -> CapabilitySet { CapabilitySet(rawValue: rawValue | other.rawValue) }

    /// `CAP_NET_ADMIN,CAP_DAC_READ_SEARCH`, or `none`.
    public var description: String {
        let names = numbers.map { $0 < Self.names.count ? Self.names[$0].uppercased() : "CAP_\($0)" }
        return names.isEmpty ? "none" : names.joined(separator: ",")
    }
}

/// The credential lines of /proc/PID/status (or /proc/PID/task/TID/status) that privilege dropping
/// changes. Pure: parses text.
public struct ProcessCredentials: Hashable, Sendable, CustomStringConvertible {
    public var inheritable: CapabilitySet
    public var permitted: CapabilitySet
    public var effective: CapabilitySet
    public var bounding: CapabilitySet
    public var ambient: CapabilitySet
    public var noNewPrivileges: Bool
    /// Real, effective, saved and filesystem user IDs (the `Uid:` line).
    public var userIDs: [UInt32]

    public init(
        inheritable: CapabilitySet, permitted: CapabilitySet, effective: CapabilitySet, bounding: CapabilitySet,
        ambient: CapabilitySet, noNewPrivileges: Bool, userIDs: [UInt32]
    ) {
        self.inheritable = inheritable
        self.permitted = permitted
        self.effective = effective
        self.bounding = bounding
        self.ambient = ambient
        self.noNewPrivileges = noNewPrivileges
        self.userIDs = userIDs
    }

    /// Parses the text of a status file; nil when one of the lines is missing or malformed.
    public init?(status: String) {
        var fields: [Substring: Substring] = [:]
        for line in status.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon]] = line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" }
        }
        func set(_ key: Substring) -> CapabilitySet? { fields[key].flatMap { CapabilitySet(hex: $0) } }
        guard let inheritable = set("CapInh"), let permitted = set("CapPrm"), let effective = set("CapEff"),
            let bounding = set("CapBnd"), let ambient = set("CapAmb"),
            let noNewPrivileges = fields["NoNewPrivs"].flatMap({ Int($0) }),
            let uid = fields["Uid"]
        else { return nil }
        let userIDs = uid.split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { UInt32($0) }
        guard userIDs.count == 4 else { return nil }
        self.init(
            inheritable: inheritable, permitted: permitted, effective: effective, bounding: bounding,
            ambient: ambient, noNewPrivileges: noNewPrivileges != 0, userIDs: userIDs)
    }

    /// What a daemon that kept exactly `retained` shows after the drop, running as `uid`.
    public static func afterDrop(retaining retained: CapabilitySet, uid: UInt32) -> ProcessCredentials {
        ProcessCredentials(
            inheritable: .empty, permitted: retained, effective: retained, bounding: retained, ambient: .empty,
            noNewPrivileges: true, userIDs: [uid, uid, uid, uid])
    }

    public var description: String {
        "CapInh \(inheritable) CapPrm \(permitted) CapEff \(effective) CapBnd \(bounding) CapAmb \(ambient) "
            + "NoNewPrivs \(noNewPrivileges ? 1 : 0) Uid \(userIDs.map(String.init).joined(separator: " "))"
    }
}
