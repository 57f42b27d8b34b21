import Logging
import Synchronization
import TernDaemon
import TernDataChannel
import TernOS
import TernProtocol
import TernStore

/// A data plane in memory: what the controller installed, removed and restored, and binding changes the test
/// posts as the receiving thread would.
final class FakeDataPlane: ControllerDataPlane, @unchecked Sendable {
    struct State {
        var installed: [InstalledAssociation] = []
        var restored: [BindingRecord] = []
        var changes: [BindingRecord] = []
        var removed: [SecurityParameterIndex] = []
    }

    let state = Mutex(State())
    let bindingChangeNotifier: Notifier
    /// Called at every install, before it is recorded (to look at the store at that moment).
    var onInstall: (InstalledAssociation) -> Void = { _ in }

    init() throws { bindingChangeNotifier = try Notifier() }

    var installed: [InstalledAssociation] { state.withLock { $0.installed } }
    var spis: [UInt32] { installed.map(\.association.securityParameterIndex.rawValue) }

    func install(_ association: InstalledAssociation) throws {
        onInstall(association)
        try state.withLock { state in
            if state.installed.contains(where: {
                $0.association.securityParameterIndex == association.association.securityParameterIndex
            }) {
                throw DaemonError("SPI in use")
            }
            state.installed.append(association)
        }
    }

    func remove(_ spi: SecurityParameterIndex) -> Bool {
        state.withLock { state in
            let before = state.installed.count
            state.installed.removeAll { $0.association.securityParameterIndex == spi }
            if before != state.installed.count { state.removed.append(spi) }
            return before != state.installed.count
        }
    }

    func removeAll(of name: String) -> (spis: [SecurityParameterIndex], homeAddresses: [IPAddress]) {
        state.withLock { state in
            let gone = state.installed.filter { $0.name == name }
            state.installed.removeAll { $0.name == name }
            return (gone.map(\.association.securityParameterIndex), Array(Set(gone.flatMap(\.homeAddresses))))
        }
    }

    func restore(_ bindings: [BindingRecord]) { state.withLock { $0.restored += bindings } }

    func post(_ change: BindingRecord) {
        state.withLock { $0.changes.append(change) }
        bindingChangeNotifier.signal()
    }

    func takeBindingChanges() -> [BindingRecord] {
        bindingChangeNotifier.drain()
        return state.withLock { state in
            defer { state.changes = [] }
            return state.changes
        }
    }

    var nextValidityEnd: Double? { installed.map(\.validity.end).min() }

    func removeExpired(at now: Double) -> [SecurityParameterIndex] {
        let expired = installed.filter { $0.validity.end <= now }.map(\.association.securityParameterIndex)
        for spi in expired { _ = remove(spi) }
        return expired
    }

    func securityParameterIndexes(of name: String) -> [SecurityParameterIndex] {
        installed.filter { $0.name == name }.map(\.association.securityParameterIndex)
    }
}

/// Host routes in memory.
final class FakeRoutes: HostRoutes, Sendable {
    let routes = Mutex<Set<IPAddress>>([])
    let failing: Bool

    init(failing: Bool = false) { self.failing = failing }

    var current: Set<IPAddress> { routes.withLock { $0 } }

    func addHostRoute(to address: IPAddress) throws {
        if failing { throw DaemonError("no route for you") }
        _ = routes.withLock { $0.insert(address) }
    }

    func deleteHostRoute(to address: IPAddress) throws {
        _ = routes.withLock { $0.remove(address) }
    }
}

/// A reservation store that fails (a full disk), or records.
final class FakeReservationStore: SequenceReservationStore, Sendable {
    let reservations = Mutex<[UInt32: UInt32]>([:])
    let failing: Bool

    init(failing: Bool = false) { self.failing = failing }

    func reserveSequenceNumbers(spi: UInt32, through limit: UInt32) throws {
        if failing { throw DaemonError("disk full") }
        reservations.withLock { $0[spi] = max($0[spi] ?? 0, limit) }
    }
}

/// A deterministic stand-in for the random source: counts up, so keys and SPIs are predictable.
final class CountingRandom: @unchecked Sendable {
    var next: UInt8 = 1
    func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in
            defer { next &+= 1 }
            return next
        }
    }
}

let quietLogger = Logger(label: "tern.test", factory: { _ in SwiftLogNoOpLogHandler() })

/// An in-memory controller store with `identities` added, each with one issued SA and leased addresses.
func storeWithIssuedSAs(
    _ identities: [String], now: Double, validity: Double = 3600
) throws -> (HomeAgentControllerStore, [IssuedSecurityAssociation]) {
    let store = try HomeAgentControllerStore()
    let random = CountingRandom()
    var issued: [IssuedSecurityAssociation] = []
    for identity in identities {
        try store.addMobileNode(identity: identity, preSharedKey: [1, 2, 3], at: now)
        _ = try store.leaseHomeAddresses(
            for: identity, pools: [IPPrefix("192.0.2.0/24")!, IPPrefix("2001:db8:1::/64")!], reserved: [])
        issued.append(
            try store.issueSecurityAssociation(
                for: identity, suite: .aes128GCMSHA256, scope: .allTraffic, validity: validity, now: now,
                random: random.bytes))
    }
    return (store, issued)
}

/// A log handler that keeps what it was given, at a level shared like the daemons' (``LogLevelControl``).
struct RecordingHandler: LogHandler {
    let recording: Recording
    var control: LogLevelControl { recording.control }
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level {
        get { control.level }
        set { control.level = newValue }
    }
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) { recording.messages.withLock { $0.append("\(event.level): \(event.message)") } }
}

final class Recording: Sendable {
    let messages = Mutex<[String]>([])
    let control: LogLevelControl
    init(_ level: Logger.Level) { control = LogLevelControl(level) }
    func logger() -> Logger {
        let handler = RecordingHandler(recording: self)
        return Logger(label: "tern.test", factory: { _ in handler })
    }
    var lines: [String] { messages.withLock { $0 } }
}

