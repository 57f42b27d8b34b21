import Foundation
import Synchronization
import TernDataChannel
import TernOS
import TernProtocol
@testable import TernTunnel
import Testing

/// The state thread's bookkeeping, the state-file format and the state directory (docs/tunnel.md,
/// Restarts), without a data plane.
@Suite("Sequence state across restarts", .serialized)
struct SequenceStateTests {
    final class FakeStore: SequenceStateStore, @unchecked Sendable {
        let spis: Set<UInt32>
        var reserved: [UInt32: UInt32] = [:]
        var marks: [UInt32: UInt32] = [:]
        var writes = 0
        var stops: [Bool] = []
        var failing = false
        init(_ spis: Set<UInt32>) { self.spis = spis }
        func covers(_ spi: UInt32) -> Bool { spis.contains(spi) }
        func reserveSequenceNumbers(spi: UInt32, through limit: UInt32) throws {
            if failing { throw StateDirectoryError(description: "disk full") }
            reserved[spi] = limit
        }
        func saveReceivedHighWater(_ marks: [(spi: UInt32, highest: UInt32)]) throws {
            if failing { throw StateDirectoryError(description: "disk full") }
            writes += 1
            for mark in marks { self.marks[mark.spi] = mark.highest }
        }
        func recordStop(clean: Bool) throws { stops.append(clean) }
    }

    final class FakeSource: SequenceStateSource, @unchecked Sendable {
        let reservationRequests: Mailbox<(spi: SecurityParameterIndex, lastSent: UInt32)>
        let highWaterBell: ChangeBell
        var highWaters: [(spi: UInt32, highest: UInt32)] = []
        var grants: [UInt32: UInt32] = [:]
        init() throws {
            reservationRequests = try Mailbox()
            highWaterBell = try ChangeBell()
        }
        func grantSequenceNumbers(_ spi: SecurityParameterIndex, through limit: UInt32) { grants[spi.rawValue] = limit }
        func receivedHighWaters() -> [(spi: UInt32, highest: UInt32)] { highWaters }
    }

    private func spi(_ value: UInt32) throws -> SecurityParameterIndex { try #require(SecurityParameterIndex(rawValue: value)) }

    @Test("a reservation is granted only once persisted, one step past what was used")
    func reservations() throws {
        let source = try FakeSource()
        let store = FakeStore([7])
        let persistence = SequenceStatePersistence(source: source, stores: [store])
        #expect(source.reservationRequests.post((try spi(7), 600_000)))
        #expect(persistence.serviceReservations().isEmpty)
        #expect(store.reserved[7] == 600_000 + SendReservation.step)
        #expect(source.grants[7] == 600_000 + SendReservation.step)
        store.failing = true
        #expect(source.reservationRequests.post((try spi(7), 1_200_000)))
        #expect(persistence.serviceReservations().count == 1)
        #expect(source.grants[7] == 600_000 + SendReservation.step, "not granted: not persisted")
        #expect(SendReservation.nextLimit(after: .max - 5) == .max)
    }

    @Test("high-water marks are written at most once a period, only when they moved, and all at a clean stop")
    func highWater() throws {
        let source = try FakeSource()
        let store = FakeStore([7, 8])
        var persistence = SequenceStatePersistence(source: source, stores: [store])
        let period = SequenceStatePersistence.highWaterPeriod
        let start: UInt64 = 10 * period
        #expect(persistence.pollTimeout(at: start) == nil, "idle: no wake-up")
        source.highWaters = [(7, 100), (8, 0)]
        persistence.highWaterMoved(at: start)
        #expect(persistence.pollTimeout(at: start) == 0, "the first move after a quiet period is written at once")
        #expect(persistence.persistHighWater(at: start).isEmpty)
        #expect(store.marks == [7: 100, 8: 0] && store.writes == 1)
        source.highWaters = [(7, 200), (8, 0)]
        persistence.highWaterMoved(at: start + 1)
        #expect(persistence.pollTimeout(at: start + 1) == Int32((period - 1 + 999_999) / 1_000_000))
        #expect(persistence.persistHighWater(at: start + 1).isEmpty && store.writes == 1, "not due yet")
        #expect(persistence.persistHighWater(at: start + period).isEmpty)
        #expect(store.marks[7] == 200 && store.writes == 2)
        #expect(persistence.pollTimeout(at: start + period) == nil)
        source.highWaters = [(7, 201), (8, 0)]
        #expect(persistence.stop(at: start + period + 1).isEmpty)
        #expect(store.marks[7] == 201 && store.stops == [true])
    }

    @Test("the bell wakes the state thread once per write, however often the receiving thread rings")
    func bell() throws {
        let source = try FakeSource()
        let store = FakeStore([7])
        var persistence = SequenceStatePersistence(source: source, stores: [store])
        let poller = Poller([source.highWaterBell.notifier.descriptor.rawValue])
        func woken() throws -> Bool { try poller.wait(timeoutMilliseconds: 0) && poller.isReadable(0) }
        #expect(try !woken())
        source.highWaterBell.ring()
        #expect(try woken())
        persistence.highWaterMoved(at: 1)
        #expect(try !woken(), "silenced")
        source.highWaterBell.ring()
        #expect(try !woken(), "rung while a write waits: nobody is woken")
        source.highWaters = [(7, 1)]
        #expect(persistence.persistHighWater(at: SequenceStatePersistence.highWaterPeriod).isEmpty)
        source.highWaterBell.ring()
        #expect(try woken(), "re-armed by the write")
    }

    @Test("a failed high-water write leaves no clean-stop marker")
    func failedStop() throws {
        let source = try FakeSource()
        let store = FakeStore([7])
        var persistence = SequenceStatePersistence(source: source, stores: [store])
        source.highWaters = [(7, 5)]
        store.failing = true
        #expect(!persistence.stop(at: 1).isEmpty)
        #expect(store.stops.isEmpty)
    }

    // MARK: The state file

    private static let fingerprint = String(repeating: "ab", count: 32)

    @Test("a state file round-trips")
    func roundTrip() throws {
        let file = SecurityAssociationStateFile(
            securityParameterIndex: 4660, keyFingerprint: Self.fingerprint,
            state: PersistedSequenceState(sentReserved: 1 << 21, receivedHighest: 77, cleanStop: true))
        #expect(try SecurityAssociationStateFile.parse(Array(file.text.utf8)) == file)
        #expect(SecurityAssociationStateFile.name(role: "mn", spi: 4660, keyFingerprint: Self.fingerprint) == "mn-sa-4660-abababababababab.state")
    }

    @Test(
        "hostile state files are refused with the line at fault, never trapped on",
        arguments: [
            ("", "line 1"), ("tern-sa-state 2\n", "line 1"), ("tern-sa-state 1\nspi 1\n", "expected 6 lines"),
            ("tern-sa-state 1\nspi -1\nkey-fingerprint \(String(repeating: "ab", count: 32))\nsent-reserved 1\nreceived-highest 1\nclean-stop no\n", "line 2"),
            ("tern-sa-state 1\nspi 4294967296\nkey-fingerprint \(String(repeating: "ab", count: 32))\nsent-reserved 1\nreceived-highest 1\nclean-stop no\n", "line 2"),
            ("tern-sa-state 1\nspi 1\nkey-fingerprint abc\nsent-reserved 1\nreceived-highest 1\nclean-stop no\n", "line 3"),
            ("tern-sa-state 1\nspi 1\nkey-fingerprint \(String(repeating: "AB", count: 32))\nsent-reserved 1\nreceived-highest 1\nclean-stop no\n", "line 3"),
            ("tern-sa-state 1\nspi 1\nkey-fingerprint \(String(repeating: "ab", count: 32))\nsent-reserved ١\nreceived-highest 1\nclean-stop no\n", "line 4"),
            ("tern-sa-state 1\nspi 1\nkey-fingerprint \(String(repeating: "ab", count: 32))\nreceived-highest 1\nsent-reserved 1\nclean-stop no\n", "line 4"),
            ("tern-sa-state 1\nspi 1\nkey-fingerprint \(String(repeating: "ab", count: 32))\nsent-reserved 1\nreceived-highest 1\nclean-stop maybe\n", "line 6"),
            (String(repeating: "x", count: 5000), "larger than"),
        ])
    func hostile(_ text: String, _ expected: String) {
        #expect {
            try SecurityAssociationStateFile.parse(Array(text.utf8))
        } throws: { error in
            "\(error)".contains(expected)
        }
        #expect(throws: SecurityAssociationStateFile.ParseError.self) { try SecurityAssociationStateFile.parse([0xff, 0xfe, 0x00]) }
    }

    // MARK: The state directory (root: the directory must be root's)

    private func association(spi value: UInt32, keyByte: UInt8) throws -> SecurityAssociation {
        let suite = Ciphersuite.aes128GCMSHA256
        func keys(_ byte: UInt8) throws -> DirectionalKeys {
            try DirectionalKeys(
                suite: suite, encryptionKey: [UInt8](repeating: byte, count: suite.encryptionKeyLength), integrityKey: [])
        }
        return SecurityAssociation(
            securityParameterIndex: try spi(value), suite: suite, scope: .allTraffic,
            mobileNodeToHomeAgent: try keys(keyByte), homeAgentToMobileNode: try keys(keyByte &+ 1))
    }

    private func temporaryDirectory() -> String {
        NSTemporaryDirectory() + "tern-state-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    @Test("the state directory resumes past each reservation, starts afresh for new keys, and refuses corrupt files and loose modes")
    func stateDirectory() throws {
        guard getuid() == 0 else { return }
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let sa = try association(spi: 4660, keyByte: 1)
        do {
            let store = try StateDirectoryStore(directory: directory, role: .mobileNode)
            let attributes = try FileManager.default.attributesOfItem(atPath: directory)
            #expect((attributes[.posixPermissions] as? Int) == 0o700, "created 0700")
            #expect(try store.add(sa) == PersistedSequenceState(), "a new SA starts at 0")
            try store.saveReceivedHighWater([(4660, 42)])
            try store.reserveSequenceNumbers(spi: 4660, through: 3 * SendReservation.step)
        }
        do {
            // An unclean stop (no marker): the reservation and the mark come back.
            let store = try StateDirectoryStore(directory: directory, role: .mobileNode)
            let previous = try store.add(sa)
            #expect(previous == PersistedSequenceState(sentReserved: 3 * SendReservation.step, receivedHighest: 42, cleanStop: false))
            #expect(previous.resumedReservation == (3 * SendReservation.step, 4 * SendReservation.step))
            try store.recordStop(clean: true)
            #expect(try StateDirectoryStore(directory: directory, role: .mobileNode).add(sa).cleanStop)
            // The other end's file and other keys under the same SPI are other files: fresh.
            #expect(try StateDirectoryStore(directory: directory, role: .homeAgent).add(sa) == PersistedSequenceState())
            #expect(try store.add(association(spi: 4660, keyByte: 9)) == PersistedSequenceState())
        }
        let fingerprint = try sa.keyFingerprint()
        #expect(fingerprint.count == 64 && !fingerprint.contains("0101010101"), "a hash, not the key")
        let path = directory + "/" + SecurityAssociationStateFile.name(role: "mn", spi: 4660, keyFingerprint: fingerprint)
        try Data("tern-sa-state 1\nspi 4660\ngarbage\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect {
            try StateDirectoryStore(directory: directory, role: .mobileNode).add(sa)
        } throws: { error in
            "\(error)".contains("state file \(path) is corrupt") && "\(error)".contains("new keys")
        }
        chmod(directory, 0o777)
        #expect {
            try StateDirectoryStore(directory: directory, role: .mobileNode)
        } throws: { error in
            "\(error)".contains("has mode 0777")
        }
        chmod(directory, 0o700)
        chown(directory, 1, 1)
        #expect {
            try StateDirectoryStore(directory: directory, role: .mobileNode)
        } throws: { error in
            "\(error)".contains("owned by uid 1")
        }
    }
}
