import TernConfig
import TernDataChannel
import TernOS
import TernPrivileges
public import TernStore
public import TernTunnel

// Sequence state across restarts (docs/tunnel.md, "Restarts"): the HAC's database keeps that of the SAs
// it issued, the state directory that of static SAs; one state thread (SequenceStateThread) writes both.

extension HomeAgentControllerStore: SequenceStateStore {
    /// The fallback store: every SA the state directory does not hold is one the HAC issued.
    public func covers(_ spi: UInt32) -> Bool { true }
}

/// The state directory for this end's static SAs, with what a previous run left of each.
struct StaticSequenceState {
    let store: StateDirectoryStore
    /// By SPI: what the previous run persisted (a fresh value for a new SA or new keys).
    let previous: [UInt32: PersistedSequenceState]

    /// Checks (or creates) `directory` and takes on `associations`, each reserved afresh before use.
    /// Refused (exit status 78) when the state cannot be kept: see ``StateDirectoryStore``.
    init(
        directory: String, role: SecurityAssociation.Role, associations: [SecurityAssociation], options: DaemonOptions
    ) throws {
        // The directory is root's: after a switch to --user the writes would fail once the first
        // reservation is used up, so refuse now rather than stop sending then.
        if !associations.isEmpty, let name = options.user, let account = try? Privileges.account(named: name), account.uid != 0 {
            throw fail(
                "state-directory \(directory) is root-only, and with --user \(name) this end could not record its sequence numbers: run as root (the default) or key the tunnel through the HAC",
                configuration: true)
        }
        do {
            store = try StateDirectoryStore(directory: directory, role: role)
            var previous: [UInt32: PersistedSequenceState] = [:]
            for association in associations {
                previous[association.securityParameterIndex.rawValue] = try store.add(association)
            }
            self.previous = previous
        } catch {
            throw fail("\(error)", configuration: true)
        }
    }
}

extension HomeAgentDataPlane.MobileNode {
    /// A static Mobile Node resumed from what its state file held: past the previous reservation,
    /// refusing what may have been accepted, and — unless that run stopped cleanly — with its endpoint
    /// held until its own Binding Update.
    init(_ node: MobileNodeEntry, previous: PersistedSequenceState) {
        self.init(
            name: node.name, association: node.securityAssociation, homeAddresses: node.homeAddresses,
            sequenceReservation: previous.resumedReservation, receivedThrough: previous.receivedHighest,
            holdEndpointUntilBindingUpdate: !previous.cleanStop)
    }
}
