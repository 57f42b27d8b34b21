import Foundation
import Testing

/// Which seeds to run: `TERN_SIM_SEED=n` one, `TERN_SIM_SEEDS=a..b` a range (inclusive), else the CI set.
enum SeedSelection {
    static let ciSeeds: ClosedRange<UInt64> = 1...1_000

    static func fromEnvironment(_ environment: [String: String]) -> ClosedRange<UInt64>? {
        if let one = environment["TERN_SIM_SEED"] {
            guard let seed = UInt64(one) else { return nil }
            return seed...seed
        }
        if let range = environment["TERN_SIM_SEEDS"] {
            let parts = range.split(separator: ".", omittingEmptySubsequences: true)
            guard parts.count == 2, let low = UInt64(parts[0]), let high = UInt64(parts[1]), low <= high else { return nil }
            return low...high
        }
        return ciSeeds
    }
}

@Suite("Deterministic network simulation (docs/simulation.md)", .serialized)
struct SimulationTests {
    @Test("every seed keeps every invariant after every step")
    func seeds() throws {
        let environment = ProcessInfo.processInfo.environment
        guard let seeds = SeedSelection.fromEnvironment(environment) else {
            Issue.record("TERN_SIM_SEED must be a number, TERN_SIM_SEEDS a range a..b")
            return
        }
        // TERN_SIM_KEEP_GOING=1: run every seed and count those that fail (to measure how well a planted
        // defect is caught); otherwise stop at the first.
        let keepGoing = environment["TERN_SIM_KEEP_GOING"] == "1"
        var steps = 0
        var statistics = Simulation.Statistics()
        var failures: [Simulation.Violation] = []
        for seed in seeds {
            let simulation = try Simulation(seed: seed)
            if let violation = simulation.run() {
                failures.append(violation)
                if !keepGoing { break }
            }
            steps += simulation.steps
            statistics.add(simulation.statistics)
        }
        if let first = failures.first {
            if keepGoing {
                let invariants = Dictionary(grouping: failures, by: \.invariant).map { "\($0.value.count) × \($0.key)" }.sorted()
                print("simulation: \(failures.count) of \(seeds.count) seeds failed: \(invariants.joined(separator: "; "))")
            }
            Issue.record("\(first)")
            return
        }
        print("simulation: seeds \(seeds.lowerBound)...\(seeds.upperBound), \(steps) steps, no violation; \(statistics)")
        // A run that exercised nothing proves nothing: the faults must have happened.
        if seeds.count >= 100 {
            #expect(statistics.homeAgentRestarts > 0 && statistics.uncleanRestarts > 0 && statistics.suspends > 0)
            #expect(statistics.uplinkSwitches > 0 && statistics.natRebindings > 0 && statistics.attacks > 0)
            #expect(statistics.reachabilityChecks > seeds.count)
        }
    }

    @Test("a seed replays exactly: the same steps, the same end state")
    func replaysExactly() throws {
        for seed: UInt64 in [3, 77] {
            let first = try Simulation(seed: seed)
            let second = try Simulation(seed: seed)
            #expect(first.run() == nil)
            #expect(second.run() == nil)
            #expect(first.steps == second.steps)
            #expect(first.fingerprint == second.fingerprint)
            #expect(first.steps > 1_000, "a run that does little explores little")
        }
    }
}
