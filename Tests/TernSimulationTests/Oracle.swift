import TernProtocol

/// What the simulation knows and the nodes do not: every datagram each SA sealed (by fingerprint),
/// every sequence number each receiver accepted, who sent each inner packet and to whom. Each check
/// returns what was wrong, or nil.
struct Oracle {
    private enum Direction: UInt64 {
        case mobileNodeToHomeAgent = 1
        case homeAgentToMobileNode = 2
    }

    /// (direction, SPI, sequence number) → the one datagram sealed with it (the delivered copies share its
    /// storage, so comparing is cheap).
    private var sealed: [UInt64: [UInt8]] = [:]
    /// MN → HA numbers any HA run accepted, and those the current run of each HA accepted.
    private var acceptedByHomeAgents: Set<UInt64> = []
    private var acceptedThisRun: [Int: Set<UInt64>] = [:]
    private var lastAccepted: (key: UInt64, before: Bool, newest: Bool)?
    /// The highest MN → HA number the current run of each HA accepted, per SPI.
    private var highestThisRun: [Int: [UInt32: UInt32]] = [:]
    private var acceptedByMobileNodes: Set<UInt64> = []
    private var senders: [UInt64: Int] = [:]
    private var recipients: [UInt64: Int] = [:]
    private var nextTag: UInt64 = 1

    private static func key(_ direction: Direction, _ spi: SecurityParameterIndex, _ sequenceNumber: UInt32) -> UInt64 {
        direction.rawValue << 62 | UInt64(spi.rawValue) << 32 | UInt64(sequenceNumber)
    }

    mutating func sealed(byHomeAgent: Bool, spi: SecurityParameterIndex, _ sequenceNumber: UInt32, bytes: [UInt8]) -> String? {
        let key = Self.key(byHomeAgent ? .homeAgentToMobileNode : .mobileNodeToHomeAgent, spi, sequenceNumber)
        guard sealed[key] == nil else {
            return "\(byHomeAgent ? "HA" : "MN") sealed SPI \(spi.rawValue) sequence number \(sequenceNumber) a second time"
        }
        sealed[key] = bytes
        return nil
    }

    private func isGenuine(_ key: UInt64, _ bytes: [UInt8]) -> Bool { sealed[key] == bytes }

    mutating func homeAgentAccepted(_ agent: Int, spi: SecurityParameterIndex, _ sequenceNumber: UInt32, bytes: [UInt8])
        -> String?
    {
        let key = Self.key(.mobileNodeToHomeAgent, spi, sequenceNumber)
        guard isGenuine(key, bytes) else { return "HA \(agent) accepted SPI \(spi.rawValue) #\(sequenceNumber), which the MN never sealed" }
        guard acceptedThisRun[agent, default: []].insert(key).inserted else {
            return "HA \(agent) accepted SPI \(spi.rawValue) #\(sequenceNumber) twice in one run (a replay)"
        }
        let highest = highestThisRun[agent, default: [:]][spi.rawValue] ?? 0
        lastAccepted = (key, !acceptedByHomeAgents.insert(key).inserted, sequenceNumber > highest)
        highestThisRun[agent, default: [:]][spi.rawValue] = max(highest, sequenceNumber)
        return nil
    }

    /// A binding moved by the datagram sealed as (`spi`, `sequenceNumber`).
    func moved(spi: SecurityParameterIndex, _ sequenceNumber: UInt32, bytes: [UInt8]) -> String? {
        let key = Self.key(.mobileNodeToHomeAgent, spi, sequenceNumber)
        guard isGenuine(key, bytes) else { return "the datagram was never sealed by the MN (unauthenticated)" }
        guard let lastAccepted, lastAccepted.key == key else { return "the HA had not accepted it (not authentic, or refused as a replay)" }
        guard !lastAccepted.before else { return "#\(sequenceNumber) had been accepted before (a replay)" }
        guard lastAccepted.newest else { return "#\(sequenceNumber) was not the newest (a delayed datagram)" }
        return nil
    }

    mutating func homeAgentRestarted(_ agent: Int) {
        acceptedThisRun[agent] = []
        highestThisRun[agent] = [:]
    }

    mutating func mobileNodeAccepted(spi: SecurityParameterIndex, _ sequenceNumber: UInt32, bytes: [UInt8]) -> String? {
        let key = Self.key(.homeAgentToMobileNode, spi, sequenceNumber)
        guard isGenuine(key, bytes) else { return "accepted SPI \(spi.rawValue) #\(sequenceNumber), which no HA sealed" }
        guard acceptedByMobileNodes.insert(key).inserted else { return "accepted SPI \(spi.rawValue) #\(sequenceNumber) twice" }
        return nil
    }

    mutating func nextTag(sentBy mobileNode: Int) -> UInt64 {
        nextTag += 1
        senders[nextTag] = mobileNode
        return nextTag
    }

    mutating func nextTag(sentTo mobileNode: Int) -> UInt64 {
        nextTag += 1
        recipients[nextTag] = mobileNode
        return nextTag
    }

    func sender(of tag: UInt64) -> Int? { senders[tag] }
    func recipient(of tag: UInt64) -> Int? { recipients[tag] }
}
