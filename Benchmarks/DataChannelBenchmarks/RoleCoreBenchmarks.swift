// The role cores (TernRoles) on the data path: what HomeAgentCore adds to opening a datagram (which
// session, who may move the binding, the inner source check, the verdict) and what its Transmitter adds
// to sealing one (which Mobile Node, its endpoint, the reservation). Compare with "open 1420" and "seal
// 1420" of the same suite; mallocCountTotal must read 0 here too (issue 14: no allocation per packet).

import Benchmark
import TernDataChannel
import TernProtocol
import TernRoles

/// 10.77.0.2, the Mobile Node's Home Address in these benchmarks.
private let homeAddress = IPv4Address(rawValue: 0x0A4D_0002)
private let homeAgentAddress = SocketAddress(.v4(IPv4Address(rawValue: 0xC000_0201)), port: 7872)
private let mobileNodeAddress = SocketAddress(.v4(IPv4Address(rawValue: 0xC633_6407)), port: 40_000)
/// Datagrams per batch, as the engines' DatagramBatch.defaultCapacity: the core's per-batch step.
private let batchLength = 64

/// Writes `address` as the inner packet's source (offset 12) or destination (offset 16).
private func writeAddress(_ address: IPv4Address, into buffer: UnsafeMutableRawBufferPointer, at offset: Int) {
    for shift in 0..<4 { buffer[offset + shift] = UInt8(truncatingIfNeeded: address.rawValue >> (24 - 8 * shift)) }
}

func roleCoreBenchmarks(_ configuration: Benchmark.Configuration) {
    let suite = Ciphersuite.default
    let association = makeAssociation(suite)
    let session: MobileNodeSession
    do {
        session = try MobileNodeSession(name: "benchmark", association: association, homeAddresses: [.v4(homeAddress)])
    } catch {
        fatalError("cannot set up the session: \(error)")
    }
    // A live binding at the MN's address, as after its Binding Update.
    session.bindingExpiresAt.store(.max, ordering: .relaxed)
    _ = session.move(to: Endpoint(remote: mobileNodeAddress, local: LocalAddress(address: homeAgentAddress.address)))
    let tables = SessionTableSource(SessionTable([session]))
    let payload = suite.headroom..<(suite.headroom + payloadLength)

    do {
        let (outbound, _) = makeEndpoints(suite, role: .mobileNode)
        let pool = allocatePacketBuffers(count: packetsPerSample)
        let datagrams = UnsafeMutableBufferPointer<Range<Int>>.allocate(capacity: packetsPerSample)
        var core = HomeAgentCore(tables: tables, policy: BindingCache.Policy())
        var actions = HomeAgentActions()
        var counters = TunnelCounters()

        Benchmark("core: HA receive 1420 \(suite.name) (classify, open, binding rule, inner source, verdict)",
            configuration: configuration)
        { benchmark in
            let count = benchmark.scaledIterations.count
            precondition(count <= packetsPerSample, "pool smaller than a sample")
            for index in 0..<count {
                let slot = slotBuffer(pool, index)
                writeInnerIPv4Packet(into: slot, at: payload)
                writeAddress(homeAddress, into: slot, at: payload.lowerBound + 12)
                do {
                    datagrams[index] = try outbound.seal(.userData, nextHeader: NextHeader.ipv4, in: slot, payload: payload).range
                } catch {
                    preconditionFailure("core receive: could not seal the pool: \(error)")
                }
            }

            benchmark.startMeasurement()
            var delivered = 0
            for index in 0..<count {
                if index % batchLength == 0 {
                    core.beginBatch(now: 1_000_000_000, wallClock: 1_800_000_000)
                    actions.removeAll()
                }
                let datagram = ReceivedDatagram(
                    buffer: slotBuffer(pool, index), range: datagrams[index], source: mobileNodeAddress,
                    local: LocalAddress(address: homeAgentAddress.address))
                if case .writeToTun(let inner) = core.receive(datagram, counters: &counters, actions: &actions) {
                    delivered += 1
                    blackHole(inner)
                }
            }
            benchmark.stopMeasurement()
            precondition(delivered == count, "core receive: \(count - delivered) of \(count) packets not delivered")
        }
    }

    do {
        let buffer = allocatePacketBuffers(count: 1)
        var transmitter = HomeAgentCore.Transmitter(tables: tables)
        var counters = TunnelCounters()

        // The same buffer is routed and sealed again and again, as in "seal 1420"; the destination is
        // written back before each route, since sealing in place encrypted the previous one.
        Benchmark("core: HA route+seal 1420 \(suite.name) (Home Address, binding, endpoint, reservation, seal)",
            configuration: configuration)
        { benchmark in
            var failures = 0
            for index in benchmark.scaledIterations {
                if index % batchLength == 0 { transmitter.beginBatch() }
                buffer[payload.lowerBound] = 0x45
                writeAddress(homeAddress, into: buffer, at: payload.lowerBound + 16)
                guard let route = transmitter.route(
                    UnsafeRawBufferPointer(buffer), payload: payload, now: 1_000_000_000, counters: &counters)
                else {
                    failures += 1
                    continue
                }
                do {
                    let sealed = try route.session.outbound.seal(.userData, nextHeader: NextHeader.ipv4, in: buffer, payload: payload)
                    transmitter.sealed(route, pastSoftLimit: sealed.isPastSoftLimit)
                    blackHole(route.endpoint)
                    blackHole(sealed)
                } catch {
                    failures += 1
                }
            }
            precondition(failures == 0, "core route+seal: \(failures) packets failed")
        }
    }
}
