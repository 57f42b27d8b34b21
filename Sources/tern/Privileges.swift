import Logging
import TernOS
import TernPrivileges

/// The one call each daemon makes once its TUN device, sockets and netlink sockets are open and its
/// threads run: keep only what `role` still needs (docs/privileges.md), optionally as `--user`. A
/// failure stops the daemon (exit 1): a half-dropped process must not serve.
func dropPrivileges(_ role: PrivilegePolicy.Role, options: DaemonOptions, logger: Logger) throws {
    do {
        let account = try options.user.map { (name) throws(SystemCallError) in try Privileges.account(named: name) }
        let switches = account.map { $0.uid != 0 } ?? false
        let retained = PrivilegePolicy.retained(for: role, switchesUser: switches)
        try Privileges.drop(retaining: retained, account: switches ? account : nil)
        let who = account.map { "user \($0.name) (uid \($0.uid), gid \($0.gid))" } ?? "uid \(UserAccount.realUserID)"
        logger.info("privileges dropped: running as \(who) with \(retained), no_new_privs set")
    } catch {
        throw fail("cannot drop privileges: \(error)")
    }
}
