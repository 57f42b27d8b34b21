/// Which capabilities each daemon keeps once it is set up (docs/privileges.md says why). Pure.
public enum PrivilegePolicy {
    public enum Role: Sendable {
        case homeAgent
        /// `rereadsKeyFiles`: the MN re-keys with the HAC (its config has `hac:`), which re-reads the
        /// root-only PSK file and the CA or pinned certificate after the drop.
        case mobileNode(rereadsKeyFiles: Bool)
    }

    /// The documented lists, as docs/privileges.md and the tests spell them.
    public static let homeAgent = "CAP_NET_ADMIN"
    public static let mobileNode = "CAP_NET_ADMIN"
    /// A Mobile Node with a HAC running as a user other than root: it must still read root-only key files.
    public static let mobileNodeUnprivilegedWithController = "CAP_NET_ADMIN,CAP_DAC_READ_SEARCH"

    /// The capabilities `role` keeps; `switchesUser` when it runs as an account other than root.
    public static func retained(for role: Role, switchesUser: Bool) -> CapabilitySet {
        let list: String
        switch role {
        case .homeAgent: list = homeAgent
        case .mobileNode(let rereads): list = rereads && switchesUser ? mobileNodeUnprivilegedWithController : mobileNode
        }
        return CapabilitySet(parsing: list) ?? .empty
    }
}
