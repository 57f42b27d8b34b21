import Foundation

/// A real openresolv (Debian's `/sbin/resolvconf`, installed by scripts/test.sh) that writes only into
/// the lab's directory, for a Mobile Node run in a test namespace.
///
/// Why it cannot touch the machine's resolver: a network namespace shares the file system, so a Mobile
/// Node in one would otherwise run the host's resolvconf against the host's /etc/resolv.conf and
/// /run/resolvconf. Every command that should see the private resolver runs through ``wrapper``:
///
///     unshare --mount --propagation private -- sh -c '<script>' sh <lab>/resolvconf.conf COMMAND…
///
/// which, in a mount namespace of its own whose mounts never propagate back, bind-mounts the lab's
/// resolvconf.conf over /etc/resolvconf.conf (openresolv reads only that file) and, if the host runs
/// systemd-resolved, hides /run/systemd/resolve under an empty tmpfs so that the Mobile Node cannot pick
/// resolved (which serves the host's namespace, not the test's). The private resolvconf.conf points
/// `resolv_conf` and `state_dir` into the lab's directory and turns off every subscriber that could
/// signal a daemon of the host (nscd restart, avahi/mdnsd HUP, dnsmasq, named, unbound, pdnsd). The
/// wrapper execs (`exec "$@"`), so the PID a test signals is the daemon's own.
///
/// The test command is a shell here because it is test scaffolding; the daemon itself never runs one.
struct PrivateResolver {
    let lab: NetworkLab
    /// The file openresolv generates, in place of /etc/resolv.conf.
    let resolvConf: String
    /// openresolv's state directory, in place of /run/resolvconf.
    let stateDirectory: String
    /// The prefix that runs a command with the private resolver.
    let wrapper: [String]

    static let script = """
        mount --bind "$1" /etc/resolvconf.conf || exit 1
        shift
        if [ -d /run/systemd/resolve ]; then mount -t tmpfs -o size=64k tmpfs /run/systemd/resolve || exit 1; fi
        exec "$@"
        """

    /// Checks that openresolv is the installed resolvconf and writes the private configuration, with
    /// `original` as the resolv.conf found before anything registers.
    init(lab: NetworkLab, original: String) throws {
        self.lab = lab
        guard let resolvconf = ["/usr/sbin/resolvconf", "/sbin/resolvconf"].first(where: FileManager.default.isExecutableFile)
        else { throw LabError("no resolvconf: the DNS tests need openresolv (scripts/test.sh installs it)") }
        let version = try lab.run([resolvconf, "--version"])
        guard version.hasPrefix("openresolv"), FileManager.default.fileExists(atPath: "/etc/resolvconf.conf") else {
            throw LabError("\(resolvconf) is not openresolv (\(version.prefix(60))); the DNS tests need openresolv")
        }
        resolvConf = lab.directory.appendingPathComponent("resolv.conf").path
        stateDirectory = lab.directory.appendingPathComponent("resolvconf").path
        try lab.write("resolv.conf", original, mode: 0o644)
        let configuration = try lab.write(
            "resolvconf.conf",
            """
            resolv_conf=\(resolvConf)
            state_dir=\(stateDirectory)
            libc_restart=true
            avahi_daemon_pidfile=\(stateDirectory)/no-avahi.pid
            mdnsd_pidfile=\(stateDirectory)/no-mdnsd.pid
            dnsmasq=NO
            named=NO
            pdnsd=NO
            pdns_recursor=NO
            unbound=NO

            """, mode: 0o644)
        wrapper = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", Self.script, "sh", configuration]
    }

    /// Registers `servers` for record `name` as a DHCP client's hook would (`resolvconf -a`).
    func register(_ name: String, servers: [String], in namespace: String) throws {
        let lines = servers.map { "nameserver \($0)\\n" }.joined()
        try lab.run(wrapper + ["sh", "-c", "printf '\(lines)' | resolvconf -a \(name)"], in: namespace)
    }

    /// The generated resolv.conf and every record file openresolv keeps (interfaces, metrics,
    /// exclusive), with their contents. openresolv's own backup (resolv.conf.bak) is left out: it keeps
    /// it once made, by design.
    func snapshot() -> String {
        var text = "resolv.conf:\n" + ((try? String(contentsOfFile: resolvConf, encoding: .utf8)) ?? "(none)\n")
        let root = URL(fileURLWithPath: stateDirectory)
        let files = (FileManager.default.enumerator(atPath: stateDirectory)?.allObjects as? [String] ?? []).sorted()
        for file in files {
            var isDirectory: ObjCBool = false
            let url = root.appendingPathComponent(file)
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue,
                file != "lock", !file.hasPrefix("lock/")
            else { continue }
            text += "\(file):\n" + ((try? String(contentsOf: url, encoding: .utf8)) ?? "") + "\n"
        }
        return text
    }

    /// What the machine's own resolver looks like: /etc/resolv.conf and /run/resolvconf. The tests check
    /// that it is the same after them.
    static func hostSnapshot() -> String {
        let resolvConf = (try? String(contentsOfFile: "/etc/resolv.conf", encoding: .utf8)) ?? "(none)"
        let run = (FileManager.default.enumerator(atPath: "/run/resolvconf")?.allObjects as? [String])?.sorted()
        return resolvConf + "\n/run/resolvconf: " + (run.map { $0.joined(separator: " ") } ?? "(none)")
    }
}
