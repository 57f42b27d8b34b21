import Synchronization
public import TernDataChannel
import TernOS
import TernRoles

/// Why the state directory or a state file cannot be used: a sentence naming the path and what to do.
public struct StateDirectoryError: Error, Hashable, Sendable, CustomStringConvertible {
    public var description: String
}

/// The sequence state of static SAs (manual keying) in the state directory (`state-directory`,
/// default /var/lib/tern): one small file per SA and end, keyed by SPI and key fingerprint, rewritten
/// durably (``PrivateFile``) before the numbers it reserves are used (docs/tunnel.md, "Restarts").
///
/// The directory must be a directory owned by root that group and others cannot write; it is created
/// 0700 if it does not exist. A state file that does not parse is refused, never guessed at: starting
/// afresh under the same keys would reuse AES-GCM nonces.
///
/// Thread safety: any thread (one lock around the states).
public final class StateDirectoryStore: SequenceStateStore, @unchecked Sendable {
    public let directory: String
    /// `ha` or `mn`: both ends may share a host and a directory.
    private let role: String
    private struct Entry {
        var name: String
        var file: SecurityAssociationStateFile
    }
    private let entries = Mutex<[UInt32: Entry]>([:])

    /// Checks (or creates) `directory`.
    public init(directory: String, role: SecurityAssociation.Role) throws(StateDirectoryError) {
        self.directory = directory
        self.role = role == .homeAgent ? "ha" : "mn"
        try Self.checkDirectory(directory)
    }

    static func checkDirectory(_ directory: String) throws(StateDirectoryError) {
        do {
            if (try? FileTrust.linkStatus(directory)) == nil { try PrivateFile.makeDirectory(directory) }
            // Whoever can write the directory could make this end reuse sequence numbers: root's alone.
            if let reason = FileTrust.violation(
                try FileTrust.linkStatus(directory), policy: .configuration, kind: .directory, noun: "state-directory \(directory)",
                path: directory, effectiveUser: 0)
            {
                throw StateDirectoryError(
                    description: "\(reason) (whoever can write it could make this end reuse sequence numbers)")
            }
        } catch let error as StateDirectoryError {
            throw error
        } catch {
            throw StateDirectoryError(description: "state-directory \(directory) cannot be used: \(error)")
        }
    }

    /// Takes on `association`: reads what a previous run persisted (nothing for a new SA or new keys),
    /// then durably records a fresh reservation past it and an unclean stop, before any of it is used.
    /// Returns what the previous run left (``PersistedSequenceState/resumedReservation`` is what may be
    /// used now).
    @discardableResult
    public func add(_ association: SecurityAssociation) throws(StateDirectoryError) -> PersistedSequenceState {
        let spi = association.securityParameterIndex.rawValue
        let fingerprint: String
        do {
            fingerprint = try association.keyFingerprint()
        } catch {
            throw StateDirectoryError(description: "SPI \(spi): \(error)")
        }
        let name = SecurityAssociationStateFile.name(role: role, spi: spi, keyFingerprint: fingerprint)
        let path = directory + "/" + name
        let previous: PersistedSequenceState
        do {
            if let octets = try PrivateFile.contents(path, limit: SecurityAssociationStateFile.maximumLength) {
                if let reason = FileTrust.violation(
                    try FileTrust.linkStatus(path), policy: .secret, kind: .regularFile, noun: "state file", path: path)
                {
                    throw StateDirectoryError(description: "\(path): \(reason)")
                }
                let file = try SecurityAssociationStateFile.parse(octets)
                guard file.securityParameterIndex == spi, file.keyFingerprint == fingerprint else {
                    throw StateDirectoryError(
                        description: "state file \(path) names SPI \(file.securityParameterIndex) and other keys than its name says")
                }
                previous = file.state
            } else {
                previous = PersistedSequenceState()
            }
        } catch let error as StateDirectoryError {
            throw error
        } catch let error as SecurityAssociationStateFile.ParseError {
            throw StateDirectoryError(
                description: "state file \(path) is corrupt (\(error)); it cannot be trusted and must not be deleted while these keys are in use (that would reuse sequence numbers): give SPI \(spi) new keys, or restore the file from a backup")
        } catch {
            throw StateDirectoryError(description: "cannot read state file \(path): \(error)")
        }
        var next = previous
        next.sentReserved = previous.resumedReservation.grantedThrough
        next.cleanStop = false
        let entry = Entry(
            name: name, file: SecurityAssociationStateFile(securityParameterIndex: spi, keyFingerprint: fingerprint, state: next))
        try write(entry)
        entries.withLock { $0[spi] = entry }
        return previous
    }

    private func write(_ entry: Entry) throws(StateDirectoryError) {
        do {
            try PrivateFile.replace(directory + "/" + entry.name, contents: Array(entry.file.text.utf8), durable: true)
        } catch {
            throw StateDirectoryError(
                description: "cannot write state file \(directory)/\(entry.name): \(error); this end may not use sequence numbers it cannot record")
        }
    }

    /// Applies `change` to the SAs' entries and writes those it changed.
    private func update(_ spis: [UInt32], _ change: (inout PersistedSequenceState) -> Void) throws(StateDirectoryError) {
        let changed = entries.withLock { entries -> [Entry] in
            var changed: [Entry] = []
            for spi in spis {
                guard var entry = entries[spi] else { continue }
                let before = entry.file.state
                change(&entry.file.state)
                if entry.file.state != before {
                    entries[spi] = entry
                    changed.append(entry)
                }
            }
            return changed
        }
        for entry in changed { try write(entry) }
    }

    public func covers(_ spi: UInt32) -> Bool { entries.withLock { $0[spi] != nil } }

    public func reserveSequenceNumbers(spi: UInt32, through limit: UInt32) throws {
        try update([spi]) { $0.sentReserved = max($0.sentReserved, limit) }
    }

    public func saveReceivedHighWater(_ marks: [(spi: UInt32, highest: UInt32)]) throws {
        for mark in marks { try update([mark.spi]) { $0.receivedHighest = max($0.receivedHighest, mark.highest) } }
    }

    public func recordStop(clean: Bool) throws {
        try update(entries.withLock { Array($0.keys) }) { $0.cleanStop = clean }
    }
}
