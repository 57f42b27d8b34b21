public import TernDataChannel
import TernPrivileges
public import TernStore
public import TernTunnel

// Job 1 of the controller's state: sequence reservations (DESIGN.md: an SA restored after a restart never
// reuses a sequence number). The first reservation of every SA is persisted here, before the SA reaches the
// data plane; later steps are the SequenceStateThread's (TernTunnel), for issued and static SAs alike.

/// Where reservations are persisted: the HAC's database, the state directory.
public protocol SequenceReservationStore: AnyObject, Sendable {
    /// Records that the sender may use numbers up to `limit` (never lowers a reservation); durable on return.
    func reserveSequenceNumbers(spi: UInt32, through limit: UInt32) throws
}

extension HomeAgentControllerStore: SequenceReservationStore {}
extension StateDirectoryStore: SequenceReservationStore {}

/// Resumes an SA's sender past what any previous run may have used, and persists the new step first.
public struct SequenceReservations: Sendable {
    public let store: any SequenceReservationStore

    public init(store: any SequenceReservationStore) { self.store = store }

    /// The reservation the SA `spi` starts with when `previouslyReserved` is what the store held: it resumes
    /// after that number and may go one step further, which is persisted before this returns.
    /// - Throws: what the store threw; the SA must then not be installed.
    public func resume(
        spi: UInt32, previouslyReserved: UInt32
    ) throws -> (resumeAfter: UInt32, grantedThrough: UInt32) {
        let reservation = PersistedSequenceState(sentReserved: previouslyReserved).resumedReservation
        try store.reserveSequenceNumbers(spi: spi, through: reservation.grantedThrough)
        return reservation
    }
}

/// The state directory for this end's static SAs, with what a previous run left of each.
public struct StaticSequenceState {
    public let store: StateDirectoryStore
    /// By SPI: what the previous run persisted (a fresh value for a new SA or new keys).
    public let previous: [UInt32: PersistedSequenceState]

    /// Checks (or creates) `directory` and takes on `associations`, each reserved afresh before use.
    /// - Parameter user: `--user`, if given: the directory is root's, so with another user the writes would
    ///   fail once the first reservation is used up; refused now rather than stop sending then.
    /// - Throws: ``DaemonError`` (configuration) when the state cannot be kept: see ``StateDirectoryStore``.
    public init(
        directory: String, role: SecurityAssociation.Role, associations: [SecurityAssociation], user: String?
    ) throws(DaemonError) {
        if !associations.isEmpty, let name = user, let account = try? Privileges.account(named: name), account.uid != 0 {
            throw DaemonError(
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
            throw DaemonError("\(error)", configuration: true)
        }
    }
}
