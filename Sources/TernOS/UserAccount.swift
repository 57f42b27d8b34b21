#if canImport(Glibc)
import Glibc
#endif

/// An account from the passwd and group databases (`--user`), and who the process runs as.
public struct UserAccount: Sendable, Equatable {
    public var name: String
    public var uid: UInt32
    public var gid: UInt32
    public var supplementaryGroups: [UInt32]

    public init(name: String, uid: UInt32, gid: UInt32, supplementaryGroups: [UInt32]) {
        self.name = name
        self.uid = uid
        self.gid = gid
        self.supplementaryGroups = supplementaryGroups
    }

    /// The most bytes getpwnam_r may need for one entry's strings (glibc's own suggestion is far smaller).
    static let passwdBufferLength = 16384
    /// Supplementary groups asked for first; getgrouplist says how many when there are more.
    static let initialGroupCount: Int32 = 64

    /// Looks `name` up (getpwnam_r, getgrouplist).
    /// - Throws: ENOENT when there is no such user; what the calls reported otherwise.
    public static func named(_ name: String) throws(SystemCallError) -> UserAccount {
        var entry = passwd()
        var found: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: passwdBufferLength)
        let code = getpwnam_r(name, &entry, &buffer, buffer.count, &found)
        guard code == 0 else { throw SystemCallError("getpwnam_r \(name)", errno: code) }
        guard found != nil else { throw SystemCallError("getpwnam_r \(name): no such user", errno: ENOENT) }
        let uid = entry.pw_uid
        let gid = entry.pw_gid
        var count = initialGroupCount
        var groups = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(name, gid, &groups, &count) == -1 {
            groups = [gid_t](repeating: 0, count: Int(max(count, 0)))
            _ = try SystemCall.call("getgrouplist \(name)") { getgrouplist(name, gid, &groups, &count) }
        }
        return UserAccount(name: name, uid: uid, gid: gid, supplementaryGroups: Array(groups.prefix(Int(max(count, 0)))))
    }

    /// The process's real user id (getuid).
    public static var realUserID: UInt32 { getuid() }
}

/// Questions about paths that are not about trust (``FileTrust`` answers those).
public enum FileSystem {
    /// Whether `path` names anything (stat follows links).
    public static func exists(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0
    }

    /// Whether `path` is a regular file this process may execute (stat and access(X_OK), links followed).
    public static func isExecutableFile(_ path: String) -> Bool {
        var status = stat()
        guard stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { return false }
        return access(path, X_OK) == 0
    }
}
