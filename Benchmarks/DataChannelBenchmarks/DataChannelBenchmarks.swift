// Data-channel benchmarks: seal, open and the round trip of a 1420-octet inner IPv4 packet for each
// of the eight ciphersuites, and the replay window on its own. See ../README.md.
//
// Every benchmark runs 1,000 packets per sample (scalingFactor .kilo). The text output of
// ordo-one/benchmark 1.38.1 shows per-packet figures (marked *, rounded to integers) by default, and
// raw per-sample (1,000-packet) figures with `--scale`; ../run-data-channel.sh uses the latter and
// divides, so that a fraction of a malloc per packet still shows. Every measured loop checks that each
// operation succeeded and traps at the end of the sample otherwise, so a broken seal or open can never
// show up as a fast one. None of the measured loops may allocate: mallocCountTotal must read 0.

import Benchmark
import TernDataChannel
import TernProtocol

/// Octets of inner packet per datagram: a full-size IPv4 packet inside a 1500-octet outer path MTU.
let payloadLength = 1420

/// Octets of one packet buffer: the payload with every suite's head- and tailroom, rounded up to a
/// cache line so that pooled datagrams never share one.
let slotLength = (payloadLength + DataChannel.maximumHeadroom + DataChannel.maximumTailroom + 63) & ~63

/// Packets per sample. The open benchmark seals this many datagrams (unmeasured) before each sample.
let packetsPerSample = BenchmarkScalingFactor.kilo.rawValue

let benchmarks: @Sendable () -> Void = {
    // No .cpuTotal by default: on Linux the harness reads it from /proc in 10 ms ticks (every
    // 1,000-packet sample reads 0 or 10 ms), and the read itself makes 16 mallocs that the harness
    // counts inside the measured window, which would hide a real allocation in the data path.
    // Add it for a run with `--metric cpuTotal` if wanted.
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .mallocCountTotal, .throughput],
        timeUnits: .nanoseconds,
        warmupIterations: 1,
        scalingFactor: .kilo,
        maxDuration: .seconds(1),
        maxIterations: 10_000
    )
    // Sequence numbers: at most (warmup + maxIterations) × 1,000 ≈ 10^7 packets per SA and process,
    // far below the 2^32 − 1 an SA can send, so one SA per benchmark never runs out.

    for suite in Ciphersuite.allCases {
        // MARK: seal

        do {
            let (outbound, _) = makeEndpoints(suite, role: .mobileNode)
            let buffer = allocatePacketBuffers(count: 1)
            let payload = suite.headroom..<(suite.headroom + payloadLength)
            writeInnerIPv4Packet(into: buffer, at: payload)

            // The same buffer is sealed again and again: each seal writes header, IV, padding,
            // trailer and ICV around the payload and (for the encrypting suites) encrypts it in place,
            // so from the second packet on the "plaintext" is the previous ciphertext. That changes
            // nothing for the cost of sealing.
            Benchmark("seal 1420 \(suite.name)", configuration: configuration) { benchmark in
                var failures = 0
                for _ in benchmark.scaledIterations {
                    do {
                        let sealed = try outbound.seal(.userData, nextHeader: NextHeader.ipv4, in: buffer, payload: payload)
                        blackHole(sealed)
                    } catch {
                        failures += 1
                    }
                }
                precondition(failures == 0, "seal \(suite.name): \(failures) packets failed to seal")
            }
        }

        // MARK: open

        do {
            // The MN seals (unmeasured), the HA opens (measured). Opening decrypts in place and the
            // replay window refuses a sequence number twice, so every opened packet must be a fresh
            // datagram: before each sample, `packetsPerSample` datagrams are sealed into a pool of
            // slots, with consecutive sequence numbers, and the sample then opens each in place in
            // its slot. No copy is measured; the pool (~1.5 MB) lies partly in L2, partly in L3.
            let (outbound, _) = makeEndpoints(suite, role: .mobileNode)
            let (_, inbound) = makeEndpoints(suite, role: .homeAgent)
            let pool = allocatePacketBuffers(count: packetsPerSample)
            let datagrams = UnsafeMutableBufferPointer<Range<Int>>.allocate(capacity: packetsPerSample)
            let payload = suite.headroom..<(suite.headroom + payloadLength)

            Benchmark("open 1420 \(suite.name)", configuration: configuration) { benchmark in
                let count = benchmark.scaledIterations.count
                precondition(count <= packetsPerSample, "pool smaller than a sample")
                for index in 0..<count {
                    let slot = slotBuffer(pool, index)
                    writeInnerIPv4Packet(into: slot, at: payload)
                    do {
                        datagrams[index] = try outbound.seal(.userData, nextHeader: NextHeader.ipv4, in: slot, payload: payload).range
                    } catch {
                        preconditionFailure("open \(suite.name): could not seal the pool: \(error)")
                    }
                }

                benchmark.startMeasurement()
                var failures = 0
                for index in 0..<count {
                    do {
                        let opened = try inbound.open(slotBuffer(pool, index), datagram: datagrams[index])
                        if opened.kind != .ipv4 || opened.payload != payload { failures += 1 }
                        blackHole(opened)
                    } catch {
                        failures += 1
                    }
                }
                benchmark.stopMeasurement()
                precondition(failures == 0, "open \(suite.name): \(failures) of \(count) packets failed to open")
            }
        }

        // MARK: round trip

        do {
            // The realistic figure: MN seals, HA opens, in the same hot buffer. Opening restores the
            // plaintext, so every iteration seals a valid inner IPv4 packet with a new sequence number.
            let (outbound, _) = makeEndpoints(suite, role: .mobileNode)
            let (_, inbound) = makeEndpoints(suite, role: .homeAgent)
            let buffer = allocatePacketBuffers(count: 1)
            let payload = suite.headroom..<(suite.headroom + payloadLength)
            writeInnerIPv4Packet(into: buffer, at: payload)

            Benchmark("roundtrip 1420 \(suite.name)", configuration: configuration) { benchmark in
                var failures = 0
                for _ in benchmark.scaledIterations {
                    let datagram: Range<Int>
                    do {
                        datagram = try outbound.seal(.userData, nextHeader: NextHeader.ipv4, in: buffer, payload: payload).range
                    } catch {
                        failures += 1
                        continue
                    }
                    do {
                        let opened = try inbound.open(buffer, datagram: datagram)
                        if opened.kind != .ipv4 || opened.payload != payload { failures += 1 }
                        blackHole(opened)
                    } catch {
                        failures += 1
                    }
                }
                precondition(failures == 0, "roundtrip \(suite.name): \(failures) packets failed")
            }
        }
    }

    // MARK: replay window

    do {
        // One packet per iteration: check, then accept, the next sequence number (always .newest).
        let state = ReplayState(next: 1)
        Benchmark("replay check+accept in-order", configuration: configuration) { benchmark in
            var window = state.window
            var next = state.next
            var failures = 0
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                if window.check(next) != .newest || window.accept(next) != .newest { failures += 1 }
                next += 1
            }
            benchmark.stopMeasurement()
            blackHole(window)
            state.window = window
            state.next = next
            precondition(failures == 0, "replay in-order: \(failures) verdicts were wrong")
        }
    }

    do {
        // Two packets per iteration: the newest (2k, even) and one 101 behind it (2k − 101, odd, never
        // seen before), each checked and then accepted. Figures are per pair.
        let state = ReplayState(next: 51)
        Benchmark("replay check+accept newest+late pair", configuration: configuration) { benchmark in
            var window = state.window
            var k = state.next
            var failures = 0
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                let newest = 2 * k
                let late = newest - 101
                if window.check(newest) != .newest || window.accept(newest) != .newest { failures += 1 }
                if window.check(late) != .reordered || window.accept(late) != .reordered { failures += 1 }
                k += 1
            }
            benchmark.stopMeasurement()
            blackHole(window)
            state.window = window
            state.next = k
            precondition(failures == 0, "replay reordered: \(failures) verdicts were wrong")
        }
    }

    offloadBenchmarks(configuration)
    laneBenchmarks(configuration)
    roleCoreBenchmarks(configuration)
}

// MARK: - Helpers (all run outside the measured loops, except slotBuffer)

/// Where the replay benchmarks leave the window between samples, so that sequence numbers keep rising.
final class ReplayState {
    var window = ReplayWindow()
    var next: UInt32

    init(next: UInt32) { self.next = next }
}

/// Fixed, distinct keys per suite and direction: the values do not matter for timing.
func makeEndpoints(
    _ suite: Ciphersuite, role: SecurityAssociation.Role, lanes: Int = 1
) -> (outbound: OutboundSecurityAssociation, inbound: InboundSecurityAssociation) {
    do {
        return try makeAssociation(suite).makeEndpoints(for: role, lanes: lanes)
    } catch {
        fatalError("cannot set up \(suite.name): \(error)")
    }
}

/// The SA both ends of a benchmark share: SPI 0x0ABCDEF, fixed keys.
func makeAssociation(_ suite: Ciphersuite) -> SecurityAssociation {
    func key(_ count: Int, seed: UInt8) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ Int(seed)) }
    }
    do {
        return SecurityAssociation(
            securityParameterIndex: SecurityParameterIndex(rawValue: 0x0ABC_DEF)!,
            suite: suite,
            scope: .allTraffic,
            mobileNodeToHomeAgent: try DirectionalKeys(
                suite: suite, encryptionKey: key(suite.encryptionKeyLength, seed: 1),
                integrityKey: key(suite.integrityKeyLength, seed: 2)),
            homeAgentToMobileNode: try DirectionalKeys(
                suite: suite, encryptionKey: key(suite.encryptionKeyLength, seed: 3),
                integrityKey: key(suite.integrityKeyLength, seed: 4))
        )
    } catch {
        fatalError("cannot set up \(suite.name): \(error)")
    }
}

/// `count` packet buffers of `slotLength` octets each, back to back, zeroed, never freed.
func allocatePacketBuffers(count: Int) -> UnsafeMutableRawBufferPointer {
    let buffers = UnsafeMutableRawBufferPointer.allocate(byteCount: count * slotLength, alignment: 64)
    buffers.initializeMemory(as: UInt8.self, repeating: 0)
    return buffers
}

/// The `index`th slot of `pool`.
@inline(__always)
func slotBuffer(_ pool: UnsafeMutableRawBufferPointer, _ index: Int) -> UnsafeMutableRawBufferPointer {
    UnsafeMutableRawBufferPointer(start: pool.baseAddress! + index * slotLength, count: slotLength)
}

/// A plausible inner IPv4 packet at `range`: version 4, IHL 5, Total Length, then filler.
func writeInnerIPv4Packet(into buffer: UnsafeMutableRawBufferPointer, at range: Range<Int>) {
    for offset in range {
        buffer[offset] = UInt8(truncatingIfNeeded: offset &* 131)
    }
    buffer[range.lowerBound] = 0x45
    buffer[range.lowerBound + 1] = 0
    buffer[range.lowerBound + 2] = UInt8(range.count >> 8)
    buffer[range.lowerBound + 3] = UInt8(range.count & 0xFF)
}
