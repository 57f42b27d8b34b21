#if canImport(Glibc)
import Glibc
#endif
public import TernOS
import CLibCap
import CTernPrivileges

/// Dropping privileges once a daemon has opened what needs them (DESIGN.md: least privilege).
///
/// Every change is made on all threads of the process through CTernPrivileges, because Linux keeps
/// credentials per thread and the daemons already run their data-plane threads (and whatever threads a
/// library started); libcap names and reads the capabilities (docs/privileges.md says why it does not make
/// the changes). The result is read back from /proc/self/task/*/status and compared: a thread that kept
/// more fails the drop.
public enum Privileges {
    /// An account to switch to.
    public typealias Account = UserAccount

    /// Looks `name` up in the passwd and group databases (TernOS ``UserAccount/named(_:)``).
    public static func account(named name: String) throws(SystemCallError) -> Account {
        try UserAccount.named(name)
    }

    /// Keeps exactly `retained` in the permitted, effective and bounding sets of every thread, empties the
    /// inheritable and ambient sets, sets no_new_privs, and switches to `account` first if given
    /// (supplementary groups, gid, uid; capabilities kept across the switch by PR_SET_KEEPCAPS, set only
    /// for the switch). Returns what /proc then shows.
    ///
    /// Throws when a call fails or a thread shows other credentials afterwards. A failure can leave the
    /// process half-dropped: the caller must exit.
    @discardableResult
    public static func drop(retaining retained: CapabilitySet, account: Account?) throws(SystemCallError)
        -> ProcessCredentials
    {
        // libcap names the capabilities; its numbers must be the ones the policy and /proc use.
        for number in retained.numbers {
            var value: cap_value_t = 0
            let name = number < CapabilitySet.names.count ? CapabilitySet.names[number] : "cap_\(number)"
            guard cap_from_name(name, &value) == 0, value == number else {
                throw SystemCallError("cap_from_name \(name): libcap numbers it otherwise", errno: EINVAL)
            }
        }
        _ = try SystemCall.call("prctl PR_SET_NO_NEW_PRIVS") {
            tern_prctl_all_threads(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        }
        // Every capability this kernel knows (libcap asks the kernel), not only those libcap was built with.
        let known = Int(cap_max_bits())
        for number in 0..<known where !retained.contains(number: number) {
            let present = try SystemCall.call("cap_get_bound \(name(number))") { cap_get_bound(cap_value_t(number)) }
            if present == 1 {
                _ = try SystemCall.call("prctl PR_CAPBSET_DROP \(name(number))") {
                    tern_prctl_all_threads(PR_CAPBSET_DROP, UInt(number), 0, 0, 0)
                }
            }
        }
        _ = try SystemCall.call("prctl PR_CAP_AMBIENT_CLEAR_ALL") {
            tern_prctl_all_threads(PR_CAP_AMBIENT, UInt(PR_CAP_AMBIENT_CLEAR_ALL), 0, 0, 0)
        }
        if let account {
            // Keep the permitted set across the uid change (the kernel clears it when all uids leave 0
            // unless keepcaps is set); the effective set is cleared and raised again below.
            _ = try SystemCall.call("prctl PR_SET_KEEPCAPS 1") { tern_prctl_all_threads(PR_SET_KEEPCAPS, 1, 0, 0, 0) }
            var groups = account.supplementaryGroups.map { gid_t($0) }
            _ = try SystemCall.call("setgroups \(groups)") { tern_setgroups_all_threads(groups.count, &groups) }
            _ = try SystemCall.call("setresgid \(account.gid)") { tern_setresgid_all_threads(gid_t(account.gid)) }
            _ = try SystemCall.call("setresuid \(account.uid)") { tern_setresuid_all_threads(uid_t(account.uid)) }
        }
        _ = try SystemCall.call("capset \(retained)") {
            tern_capset_all_threads(retained.rawValue, retained.rawValue, 0)
        }
        if account != nil {
            _ = try SystemCall.call("prctl PR_SET_KEEPCAPS 0") { tern_prctl_all_threads(PR_SET_KEEPCAPS, 0, 0, 0, 0) }
        }
        return try verify(ProcessCredentials.afterDrop(retaining: retained, uid: account?.uid ?? UserAccount.realUserID))
    }

    /// Reads every thread's status and compares it with `expected`.
    static func verify(_ expected: ProcessCredentials) throws(SystemCallError) -> ProcessCredentials {
        for thread in try ThreadStatus.all() {
            guard let credentials = ProcessCredentials(status: thread.text) else {
                throw SystemCallError("parse /proc/self/task/\(thread.id)/status", errno: EINVAL)
            }
            guard credentials == expected else {
                throw SystemCallError("thread \(thread.id) kept other credentials: \(credentials)", errno: EPERM)
            }
        }
        return expected
    }

    private static func name(_ number: Int) -> String {
        number < CapabilitySet.names.count ? CapabilitySet.names[number].uppercased() : "capability \(number)"
    }
}
