import Foundation
@testable import TernTunnel
import TernTestSupport
import Testing

/// The lane pool on its own: real worker threads, jobs that record who did them.
@Suite("Crypto lanes: fork-join over worker threads", .serialized)
struct CryptoLanesTests {
    /// Per job: how often it was done, and by which lane. Each job is written by one lane only.
    final class Tally: @unchecked Sendable {
        let done: UnsafeMutableBufferPointer<Int>
        let lane: UnsafeMutableBufferPointer<Int>

        init(capacity: Int) {
            done = .allocate(capacity: capacity)
            done.initialize(repeating: 0)
            lane = .allocate(capacity: capacity)
            lane.initialize(repeating: -1)
        }

        deinit {
            done.deallocate()
            lane.deallocate()
        }

        func record(_ lane: Int, _ jobs: Range<Int>) {
            for index in jobs {
                done[index] += 1
                self.lane[index] = lane
            }
        }

        func reset(_ count: Int) {
            for index in 0..<count {
                done[index] = 0
                lane[index] = -1
            }
        }
    }

    /// This process's threads whose name starts with `prefix`, by thread id.
    static func threads(named prefix: String) -> [String: String] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        var found: [String: String] = [:]
        for task in tasks {
            guard let name = try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8) else { continue }
            let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.hasPrefix(prefix) { found[task] = trimmed }
        }
        return found
    }

    /// A thread's context switches so far (voluntary + involuntary), from /proc.
    static func contextSwitches(_ task: String) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/task/\(task)/status", encoding: .utf8) else { return -1 }
        return status.split(separator: "\n").reduce(0) { total, line in
            guard line.contains("ctxt_switches:"), let value = line.split(separator: "\t").last.flatMap({ Int($0) }) else {
                return total
            }
            return total + value
        }
    }

    static let maximumJobs = 300

    /// This process's threads named `prefix`…, once `count` of them are (each names itself when it
    /// starts): waits at most 2 s.
    static func threads(named prefix: String, awaiting count: Int) -> [String: String] {
        var found = threads(named: prefix)
        for _ in 0..<200 where found.count < count {
            Thread.sleep(forTimeInterval: 0.01)
            found = threads(named: prefix)
        }
        return found
    }

    @Test(
        "many batches of random sizes: every job done exactly once, in contiguous ranges, split only when big enough; stop joins",
        .timeLimit(.minutes(2)), arguments: [2, 3, 8])
    func everyJobOnce(lanes laneCount: Int) throws {
        let tally = Tally(capacity: Self.maximumJobs)
        let prefix = "lanes-\(laneCount)"
        let lanes = try CryptoLanes(lanes: laneCount, name: prefix) { tally.record($0, $1) }
        #expect(Self.threads(named: prefix + "-c", awaiting: laneCount - 1).count == laneCount - 1)
        var random = SeededRandom(seed: UInt64(laneCount))
        var (split, wrong, lanesSeen) = (0, 0, Set<Int>())
        for _ in 0..<3000 {
            let count = Int(random.next() % UInt64(Self.maximumJobs + 1))
            let octets = Int(random.next() % UInt64(4 * CryptoLanes.minimumOctetsToSplit))
            tally.reset(count)
            let wasSplit = lanes.perform(count: count, octets: octets)
            let big = count >= CryptoLanes.minimumDatagramsToSplit && octets >= CryptoLanes.minimumOctetsToSplit
            #expect(wasSplit == big, "count \(count), octets \(octets)")
            if wasSplit { split += 1 }
            var previous = 0
            for index in 0..<count {
                let lane = tally.lane[index]
                // Every job once; lanes in order (contiguous ranges, the owner's first); lane 0 alone
                // when not split.
                if tally.done[index] != 1 || lane < previous || lane >= laneCount || (!wasSplit && lane != 0) {
                    wrong += 1
                }
                previous = max(previous, lane)
                lanesSeen.insert(lane)
            }
            if count > 0 { #expect(tally.lane[0] == 0) }
        }
        #expect(wrong == 0)
        #expect(split > 100, "only \(split) batches were split")
        #expect(lanesSeen == Set(0..<laneCount), "lanes that did work: \(lanesSeen.sorted())")
        let started = Date()
        lanes.stop()
        lanes.stop()  // idempotent
        #expect(Date().timeIntervalSince(started) < 2)
        #expect(Self.threads(named: prefix + "-c").isEmpty, "workers still there after stop")
    }

    @Test("idle is idle: a worker with no work sleeps without waking", .timeLimit(.minutes(1)))
    func idleWorkersSleep() throws {
        let tally = Tally(capacity: 64)
        let lanes = try CryptoLanes(lanes: 3, name: "lanes-idle") { tally.record($0, $1) }
        defer { lanes.stop() }
        #expect(lanes.perform(count: 64, octets: 64 * 1400))
        #expect((0..<64).allSatisfy { tally.done[$0] == 1 })
        Thread.sleep(forTimeInterval: 0.1)  // past the spin
        let workers = Self.threads(named: "lanes-idle-c", awaiting: 2)
        #expect(workers.count == 2)
        let before = workers.keys.map(Self.contextSwitches)
        Thread.sleep(forTimeInterval: 1)
        let after = workers.keys.map(Self.contextSwitches)
        #expect(before == after && !before.contains(-1), "context switches while idle: \(before) → \(after)")
        // And they still answer after sleeping.
        tally.reset(64)
        #expect(lanes.perform(count: 64, octets: 64 * 1400))
        #expect((0..<64).allSatisfy { tally.done[$0] == 1 })
    }

    @Test("one lane: no thread at all, everything inline")
    func oneLane() throws {
        let tally = Tally(capacity: 64)
        let lanes = try CryptoLanes(lanes: 1, name: "lanes-one") { tally.record($0, $1) }
        defer { lanes.stop() }
        #expect(Self.threads(named: "lanes-one").isEmpty)
        #expect(!lanes.perform(count: 64, octets: 1 << 20))
        #expect((0..<64).allSatisfy { tally.done[$0] == 1 && tally.lane[$0] == 0 })
    }
}
