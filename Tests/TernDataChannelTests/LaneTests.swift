import Dispatch
import Testing
@testable import TernDataChannel
import TernProtocol
import TernTestSupport

/// `tunnel.crypto-threads`: the ordered steps (prepare; beginOpen, finishOpen) on one thread, the
/// crypto (protect; authenticate) spread over lanes on several threads at once, must give exactly
/// what one lane gives.
@Suite("Crypto lanes: sealing and opening spread over lanes")
struct LaneTests {
    /// Octets per datagram slot of the scratch buffer: enough for any suite around 1500 octets.
    static let slotLength = 2048
    static let batchSize = 24

    /// Payloads of random lengths (1…1500), IPv4 and IPv6 alternating.
    static func payloads(count: Int = batchSize, seed: UInt64) -> [(nextHeader: UInt8, octets: [UInt8])] {
        var random = SeededRandom(seed: seed)
        return (0..<count).map { index in
            let nextHeader = index % 2 == 0 ? NextHeader.ipv4 : NextHeader.ipv6
            let length = Int(random.next() % 1500) + 1
            return (nextHeader, innerPacket(nextHeader, length: length, seed: UInt8(truncatingIfNeeded: index)))
        }
    }

    /// One slot per datagram in one allocation, so that lanes on other threads touch disjoint memory.
    final class Scratch: @unchecked Sendable {
        let memory: UnsafeMutableRawBufferPointer
        let count: Int

        init(count: Int) {
            self.count = count
            memory = .allocate(byteCount: count * LaneTests.slotLength, alignment: 64)
            memory.initializeMemory(as: UInt8.self, repeating: 0)
        }

        deinit { memory.deallocate() }

        func slot(_ index: Int) -> UnsafeMutableRawBufferPointer {
            UnsafeMutableRawBufferPointer(rebasing: memory[(index * LaneTests.slotLength)..<((index + 1) * LaneTests.slotLength)])
        }

        func copy(from other: Scratch) {
            memory.copyMemory(from: UnsafeRawBufferPointer(other.memory))
        }
    }

    /// Runs `body(lane, jobs)` for `lanes` contiguous ranges of `0 ..< count`, each lane on a thread of
    /// its own, at once.
    static func spread(_ count: Int, lanes: Int, _ body: @Sendable (Int, Range<Int>) -> Void) {
        let share = (count + lanes - 1) / lanes
        DispatchQueue.concurrentPerform(iterations: lanes) { lane in
            body(lane, min(lane * share, count)..<min((lane + 1) * share, count))
        }
    }

    /// Prepares `payloads` in order with `outbound` (one SA, its sequence numbers), then protects a copy
    /// of the framed batch for each entry of `laneCounts`, spread over that many lanes. Returns the
    /// datagrams per lane count.
    static func sealBatch(
        _ outbound: OutboundSecurityAssociation, _ payloads: [(nextHeader: UInt8, octets: [UInt8])], laneCounts: [Int]
    ) throws -> [Int: [[UInt8]]] {
        let framed = Scratch(count: payloads.count)
        var pendings: [PendingSeal] = []
        for (index, payload) in payloads.enumerated() {
            let slot = framed.slot(index)
            let start = outbound.suite.headroom
            UnsafeMutableRawBufferPointer(rebasing: slot[start..<(start + payload.octets.count)])
                .copyBytes(from: payload.octets)
            pendings.append(
                try outbound.prepare(
                    .userData, nextHeader: payload.nextHeader, in: slot, payload: start..<(start + payload.octets.count)))
        }
        var results: [Int: [[UInt8]]] = [:]
        for lanes in laneCounts {
            let scratch = Scratch(count: payloads.count)
            scratch.copy(from: framed)
            let failures = Failures(count: payloads.count)
            let sender = Unchecked(outbound)
            let prepared = pendings
            spread(payloads.count, lanes: lanes) { lane, jobs in
                for index in jobs {
                    do {
                        try sender.value.protect(prepared[index], in: scratch.slot(index), lane: lane)
                    } catch {
                        failures.mark(index)
                    }
                }
            }
            #expect(failures.marked.isEmpty, "\(outbound.suite.name): protect failed for \(failures.marked)")
            results[lanes] = pendings.indices.map { Array(scratch.slot($0)[pendings[$0].sealed.range]) }
        }
        return results
    }

    /// A value the lanes share although its type does not say it may be: an SA, whose lanes touch only
    /// what never changes after init.
    struct Unchecked<Value>: @unchecked Sendable {
        let value: Value
        init(_ value: Value) { self.value = value }
    }

    /// Per-job flags the lanes set, each its own.
    final class Failures: @unchecked Sendable {
        private var flags: [Bool]
        init(count: Int) { flags = [Bool](repeating: false, count: count) }
        func mark(_ index: Int) { flags.withUnsafeMutableBufferPointer { $0[index] = true } }
        var marked: [Int] { flags.indices.filter { flags[$0] } }
    }

    @Test("sealing a batch over 2 and 3 lanes gives the octets one lane gives", arguments: Ciphersuite.allCases)
    func sealing(suite: Ciphersuite) throws {
        let payloads = Self.payloads(seed: UInt64(suite.rawValue) &+ 7)
        let single = try makePair(suite, lanes: 1)
        let laned = try makePair(suite, lanes: 3)  // the same keys: the same seed
        #expect(laned.mobileNodeOut.laneCount == 3 && laned.homeAgentIn.laneCount == 3)
        let serial = try payloads.map { try sealed(single.mobileNodeOut, .userData, nextHeader: $0.nextHeader, $0.octets) }
        let batches = try Self.sealBatch(laned.mobileNodeOut, payloads, laneCounts: [1, 2, 3])
        // Compared first, so that a failure names the suite rather than printing every octet.
        let (twoLikeOne, threeLikeOne, likeSeal) = (batches[2] == batches[1], batches[3] == batches[1], batches[3] == serial)
        #expect(twoLikeOne, "\(suite.name): 2 lanes differ from 1")
        #expect(threeLikeOne, "\(suite.name): 3 lanes differ from 1")
        if suite.encryption == .tripleDESCBC || suite.encryption == .aes128CBC {
            // Two SAs draw different IV prefixes, so only lanes of one SA can match octet for octet.
            #expect(!likeSeal, "\(suite.name): two CBC SAs made the same IVs")
        } else {
            #expect(likeSeal, "\(suite.name): laned sealing differs from seal()")
        }
        // Either way the peer (one lane) opens every datagram to the payload sent.
        for (index, datagram) in (batches[3] ?? []).enumerated() {
            let (opened, plaintext) = try opened(single.homeAgentIn, datagram)
            #expect(plaintext == payloads[index].octets && opened.sequenceNumber == UInt32(index + 1))
        }
        #expect(batches[3]?.count == payloads.count)
    }

    /// What opening one datagram came to.
    enum Outcome: Equatable, CustomStringConvertible {
        case opened(sequence: UInt32, newest: Bool, payload: [UInt8])
        case dropped(DataChannelDropReason)

        var description: String {
            switch self {
            case .opened(let sequence, let newest, let payload): "opened \(sequence) newest \(newest) (\(payload.count) octets)"
            case .dropped(let reason): "dropped: \(reason)"
            }
        }
    }

    /// Opens `datagrams` in order with open(), one at a time.
    static func openSerially(_ inbound: InboundSecurityAssociation, _ datagrams: [[UInt8]]) -> [Outcome] {
        datagrams.map { datagram in
            do throws(DataChannelDropReason) {
                let (result, payload) = try opened(inbound, datagram)
                return .opened(sequence: result.sequenceNumber, newest: result.isNewest, payload: payload)
            } catch {
                return .dropped(error)
            }
        }
    }

    /// Opens `datagrams` as a crypto-lane receiver does: checks in order, authentication spread over
    /// `lanes` threads, then the window moves in order.
    static func openOnLanes(_ inbound: InboundSecurityAssociation, _ datagrams: [[UInt8]], lanes: Int) -> [Outcome] {
        let scratch = Scratch(count: datagrams.count)
        var outcomes = [Outcome?](repeating: nil, count: datagrams.count)
        var steps = [OpenStep?](repeating: nil, count: datagrams.count)
        for (index, datagram) in datagrams.enumerated() {
            scratch.slot(index).copyBytes(from: datagram)
            do {
                steps[index] = try inbound.beginOpen(UnsafeRawBufferPointer(scratch.slot(index)), datagram: 0..<datagram.count)
            } catch {
                outcomes[index] = .dropped(error)
            }
        }
        let failures = AuthenticationFailures(count: datagrams.count)
        let receiver = Unchecked(inbound)
        let begun = steps
        spread(datagrams.count, lanes: lanes) { lane, jobs in
            for index in jobs {
                guard case .authenticate(let pending) = begun[index] else { continue }
                do throws(DataChannelDropReason) {
                    try receiver.value.authenticate(pending, in: scratch.slot(index), lane: lane)
                } catch {
                    failures.set(index, error)
                }
            }
        }
        for index in datagrams.indices {
            guard outcomes[index] == nil, case .authenticate(let pending) = steps[index] else { continue }
            if let failure = failures.reason(index) {
                outcomes[index] = .dropped(failure)
                continue
            }
            let slot = UnsafeRawBufferPointer(scratch.slot(index))
            do {
                let result = try inbound.finishOpen(pending, in: slot)
                outcomes[index] = .opened(
                    sequence: result.sequenceNumber, newest: result.isNewest, payload: Array(slot[result.payload]))
            } catch {
                outcomes[index] = .dropped(error)
            }
        }
        return outcomes.map { $0 ?? .dropped(.truncated) }
    }

    final class AuthenticationFailures: @unchecked Sendable {
        private var reasons: [DataChannelDropReason?]
        init(count: Int) { reasons = [DataChannelDropReason?](repeating: nil, count: count) }
        func set(_ index: Int, _ reason: DataChannelDropReason) {
            reasons.withUnsafeMutableBufferPointer { $0[index] = reason }
        }
        func reason(_ index: Int) -> DataChannelDropReason? { reasons[index] }
    }

    @Test(
        "opening over 3 lanes accepts what one lane accepts and rejects a forged ICV, a replay and a duplicate in the batch",
        arguments: Ciphersuite.allCases)
    func opening(suite: Ciphersuite) throws {
        let sender = try makePair(suite, lanes: 1)
        let serialIn = try makePair(suite, lanes: 1).homeAgentIn
        let lanedIn = try makePair(suite, lanes: 3).homeAgentIn
        let payloads = Self.payloads(count: 40, seed: UInt64(suite.rawValue) &+ 11)
        let datagrams = try payloads.map { try sealed(sender.mobileNodeOut, .userData, nextHeader: $0.nextHeader, $0.octets) }
        // A first batch both receivers accept: the windows start alike and not empty.
        let first = Array(datagrams[0..<10])
        #expect(Self.openSerially(serialIn, first) == Self.openOnLanes(lanedIn, first, lanes: 3))

        var forged = datagrams[12]
        forged[forged.count - 1] ^= 0x01
        var batch = Array(datagrams[10..<12]) + [forged, datagrams[4], datagrams[13], datagrams[13]]
        batch += [datagrams[15], datagrams[14]] + Array(datagrams[16..<30]) + [datagrams[20]]
        let serial = Self.openSerially(serialIn, batch)
        let laned = Self.openOnLanes(lanedIn, batch, lanes: 3)
        #expect(serial == laned, "\(suite.name)")
        #expect(laned[2] == .dropped(.authenticationFailed), "forged: \(laned[2])")
        #expect(laned[3] == .dropped(.replayed), "replay of an earlier batch: \(laned[3])")
        #expect(laned[5] == .dropped(.replayed), "duplicate within the batch: \(laned[5])")
        #expect(laned[7] == .opened(sequence: 15, newest: false, payload: payloads[14].octets), "reordered: \(laned[7])")
        #expect(laned.last == .dropped(.replayed), "duplicate at the batch's end: \(String(describing: laned.last))")
        #expect(laned.filter { if case .opened = $0 { true } else { false } }.count == 19)
        // The windows agree, and the forged packet's number was never taken.
        #expect(serialIn.replayWindow.highestAccepted == lanedIn.replayWindow.highestAccepted)
        for sequence: UInt32 in 1...45 {
            #expect(serialIn.replayWindow.check(sequence) == lanedIn.replayWindow.check(sequence), "sequence \(sequence)")
        }
        #expect(lanedIn.replayWindow.check(13) == .reordered)
        // The genuine packet 13 still opens afterwards, on any lane.
        #expect(Self.openOnLanes(lanedIn, [datagrams[12]], lanes: 3) == [.opened(sequence: 13, newest: false, payload: payloads[12].octets)])
    }

    @Test("a lane the SA has no contexts for is refused, not trapped on")
    func unknownLane() throws {
        let pair = try makePair(.default, lanes: 2)
        var buffer = [UInt8](repeating: 0, count: 64 + pair.suite.headroom + pair.suite.tailroom)
        try buffer.withUnsafeMutableBytes { raw in
            let pending = try pair.mobileNodeOut.prepare(
                .userData, nextHeader: NextHeader.noNextHeader, in: raw, payload: pair.suite.headroom..<pair.suite.headroom)
            #expect(throws: DataChannelSealError.self) { try pair.mobileNodeOut.protect(pending, in: raw, lane: 2) }
            #expect(throws: DataChannelSealError.self) { try pair.mobileNodeOut.protect(pending, in: raw, lane: -1) }
        }
    }
}
