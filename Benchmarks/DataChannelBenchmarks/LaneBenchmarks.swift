// The split seal and open that crypto lanes use (`tunnel.crypto-threads`): the ordered step and the
// crypto step on a lane other than 0, one after the other on one thread. What the thread hand-off costs
// is not measured here (the lanes live in TernTunnel); this shows the split path allocates nothing and
// costs what seal and open cost.

import Benchmark
import TernDataChannel
import TernProtocol

func laneBenchmarks(_ configuration: Benchmark.Configuration) {
    let suite = Ciphersuite.default
    let (outbound, _) = makeEndpoints(suite, role: .mobileNode, lanes: 2)
    let (_, inbound) = makeEndpoints(suite, role: .homeAgent, lanes: 2)
    let buffer = allocatePacketBuffers(count: 1)
    let payload = suite.headroom..<(suite.headroom + payloadLength)
    writeInnerIPv4Packet(into: buffer, at: payload)

    Benchmark("lanes: roundtrip 1420 \(suite.name), prepare+protect and beginOpen+authenticate+finishOpen on lane 1",
        configuration: configuration)
    { benchmark in
        var failures = 0
        for _ in benchmark.scaledIterations {
            do {
                let pending = try outbound.prepare(.userData, nextHeader: NextHeader.ipv4, in: buffer, payload: payload)
                try outbound.protect(pending, in: buffer, lane: 1)
                guard case .authenticate(let opening) = try inbound.beginOpen(
                    UnsafeRawBufferPointer(buffer), datagram: pending.sealed.range)
                else {
                    failures += 1
                    continue
                }
                try inbound.authenticate(opening, in: buffer, lane: 1)
                let opened = try inbound.finishOpen(opening, in: UnsafeRawBufferPointer(buffer))
                if opened.kind != .ipv4 || opened.payload != payload { failures += 1 }
                blackHole(opened)
            } catch {
                failures += 1
            }
        }
        precondition(failures == 0, "lanes roundtrip: \(failures) packets failed")
    }
}
