import CTernOS
import Foundation
import Testing
import TernOS
import TernProtocol

/// A UDP socket bound to the loopback address of its family, on a port the kernel picks.
private func loopbackSocket(ipv6: Bool, receivePacketInfo: Bool = false) throws -> (UDPSocket, SocketAddress) {
    let socket = try UDPSocket(ipv6: ipv6, receivePacketInfo: receivePacketInfo)
    try socket.bind(SocketAddress(ipv6 ? .v6(IPv6Address(high: 0, low: 1)) : .v4(IPv4Address(rawValue: 0x7f00_0001)), port: 0))
    return (socket, try socket.localAddress())
}

/// Datagram `number` of a test: its number in the first two octets, then a pattern that depends on both
/// the number and the position, so a datagram cut, moved or merged does not compare equal.
private func datagram(_ number: Int, length: Int) -> [UInt8] {
    (0..<length).map { position in
        switch position {
        case 0: UInt8(number >> 8)
        case 1: UInt8(number & 0xff)
        default: UInt8(truncatingIfNeeded: number &* 31 &+ position &* 7)
        }
    }
}

/// Where `received` first differs from `expected`, in a line (nil when equal): the octets themselves would
/// flood the test log.
private func difference(_ received: [[UInt8]], _ expected: [[UInt8]]) -> String? {
    for (index, (got, wanted)) in zip(received, expected).enumerated() where got != wanted {
        return "datagram \(index): \(got.count) octets starting \(got.prefix(2)), expected \(wanted.count) starting \(wanted.prefix(2))"
    }
    return received.count == expected.count ? nil : "\(received.count) datagrams, expected \(expected.count)"
}

/// One planned datagram: where it goes, from where (family 0: routing chooses), and its octets.
private struct Planned {
    var destination: SocketAddress
    var source = LocalAddress.unspecified
    var octets: [UInt8]
}

/// Copies `plan` into the slots of a fresh batch and prepares each; returns the batch.
private func preparedBatch(_ plan: [Planned]) -> DatagramBatch {
    let batch = DatagramBatch(capacity: plan.count, slotLength: 2048)
    for (index, item) in plan.enumerated() {
        item.octets.withUnsafeBytes { batch.buffer(index).copyMemory(from: $0) }
        batch.prepareToSend(index, range: 0..<item.octets.count, to: item.destination, from: item.source)
    }
    return batch
}

/// What a receiver saw: each message's length and segment size, and the datagrams once split apart.
private struct Received {
    var messages: [(length: Int, segmentSize: Int)] = []
    var datagrams: [[UInt8]] = []
    var sources: [SocketAddress?] = []
    var truncated = 0
}

/// Receives on `socket` until `expected` datagrams arrived or 2 s passed, splitting coalesced runs as a
/// caller of `segmentSize` would.
private func receive(_ expected: Int, on socket: UDPSocket, slotLength: Int = DatagramBatch.maximumCoalescedLength) throws
    -> Received
{
    let batch = DatagramBatch(capacity: 8, slotLength: slotLength)
    let poller = Poller([socket.descriptor.rawValue])
    var received = Received()
    let deadline = Date().addingTimeInterval(2)
    while received.datagrams.count < expected && Date() < deadline {
        guard try poller.wait(timeoutMilliseconds: 100) else { continue }
        let count = try batch.receive(from: socket)
        for slot in 0..<count {
            let length = batch.receivedLength(slot)
            let step = batch.segmentSize(slot)
            received.messages.append((length, step))
            if batch.wasTruncated(slot) { received.truncated += 1 }
            let octets = Array(UnsafeRawBufferPointer(rebasing: batch.buffer(slot)[0..<length]))
            for start in stride(from: 0, to: length, by: step > 0 ? step : max(length, 1)) {
                received.datagrams.append(Array(octets[start..<min(start + (step > 0 ? step : length), length)]))
                received.sources.append(batch.source(slot))
            }
        }
    }
    return received
}

@Suite("UDP segmentation and receive coalescing on loopback", .serialized)
struct UDPOffloadTests {
    @Test("a run of equal datagrams goes out as one UDP_SEGMENT message and arrives coalesced", arguments: [false, true])
    func segmentedRunArrivesCoalesced(ipv6: Bool) throws {
        let (receiver, address) = try loopbackSocket(ipv6: ipv6)
        #expect(receiver.enableReceiveCoalescing(), "UDP_GRO accepted")
        let sender = try UDPSocket(ipv6: ipv6, receivePacketInfo: false)
        #expect(sender.sendsSegmented, "UDP_SEGMENT probed: \(String(describing: sender.segmentationDisabledReason))")
        #expect(sender.segmentationDisabledReason == nil)

        let plan = (0..<20).map { Planned(destination: address, octets: datagram($0, length: 1200)) }
            + [Planned(destination: address, octets: datagram(20, length: 700))]
        let batch = preparedBatch(plan)
        var refused = 0
        #expect(batch.send(0..<plan.count, on: sender, refused: &refused) == plan.count, "counted in datagrams")
        #expect(refused == 0)
        #expect(sender.sendsSegmented, "still segmenting after a good send")

        let received = try receive(plan.count, on: receiver)
        #expect(difference(received.datagrams, plan.map(\.octets)) == nil, "every datagram, in order, octet for octet")
        #expect(received.truncated == 0)
        let coalesced = received.messages.filter { $0.segmentSize == 1200 && $0.length > 1200 }
        #expect(!coalesced.isEmpty, "the kernel delivered a coalesced run: \(received.messages)")
        // Loopback runs no GRO of its own: the segmented message arrives as sent.
        #expect(received.messages.count == 1 && received.messages.first?.length == 20 * 1200 + 700)
    }

    @Test("runs break at a new destination, a new source, a longer datagram and after a shorter one")
    func mixedBatchSplitsIntoRuns() throws {
        let (first, firstAddress) = try loopbackSocket(ipv6: false)
        let (second, secondAddress) = try loopbackSocket(ipv6: false)
        #expect(first.enableReceiveCoalescing() && second.enableReceiveCoalescing())
        let sender = try UDPSocket(ipv6: false, receivePacketInfo: false)
        let otherSource = LocalAddress(address: .v4(IPv4Address(rawValue: 0x7f00_0002)))  // 127.0.0.2, also on lo

        let lengths: [(SocketAddress, Int, Bool)] = [
            (firstAddress, 1000, false), (firstAddress, 1000, false), (firstAddress, 1000, false),  // run 1
            (secondAddress, 1000, false), (secondAddress, 1000, false), (secondAddress, 400, false),  // run 2: shorter ends it
            (secondAddress, 400, false),  // run 3: alone (after a shorter one)
            (firstAddress, 800, false), (firstAddress, 800, false),  // run 4
            (firstAddress, 1200, false), (firstAddress, 1200, false),  // run 5: longer starts a new run
            (firstAddress, 1200, true), (firstAddress, 1200, true),  // run 6: another source
        ]
        let plan = lengths.enumerated().map { index, item in
            Planned(
                destination: item.0, source: item.2 ? otherSource : .unspecified,
                octets: datagram(index, length: item.1))
        }
        let batch = preparedBatch(plan)
        var refused = 0
        #expect(batch.send(0..<plan.count, on: sender, refused: &refused) == plan.count)
        #expect(refused == 0)

        let atFirst = try receive(9, on: first)
        let atSecond = try receive(4, on: second)
        let expectedFirst = [0, 1, 2, 7, 8, 9, 10, 11, 12].map { plan[$0].octets }
        let expectedSecond = [3, 4, 5, 6].map { plan[$0].octets }
        #expect(difference(atFirst.datagrams, expectedFirst) == nil)
        #expect(difference(atSecond.datagrams, expectedSecond) == nil)
        #expect(atFirst.messages.map(\.length) == [3000, 1600, 2400, 2400])
        #expect(atFirst.messages.map(\.segmentSize) == [1000, 800, 1200, 1200])
        #expect(atSecond.messages.map(\.length) == [2400, 400])
        #expect(atSecond.messages.map(\.segmentSize) == [1000, 0])
        let sources = atFirst.sources.map { $0?.address.description ?? "none" }
        #expect(sources == Array(repeating: "127.0.0.1", count: 7) + ["127.0.0.2", "127.0.0.2"])
    }

    @Test("runs stop at 64 datagrams and at 64 KiB of payload")
    func longRunsAreCapped() throws {
        let (receiver, address) = try loopbackSocket(ipv6: false)
        #expect(receiver.enableReceiveCoalescing())
        let sender = try UDPSocket(ipv6: false, receivePacketInfo: false)
        for (count, length, expected) in [(150, 100, [6400, 6400, 2200]), (100, 1400, [64_400, 64_400, 11_200])] {
            let plan = (0..<count).map { Planned(destination: address, octets: datagram($0, length: length)) }
            let batch = preparedBatch(plan)
            var refused = 0
            #expect(batch.send(0..<count, on: sender, refused: &refused) == count)
            #expect(refused == 0)
            let received = try receive(count, on: receiver)
            #expect(difference(received.datagrams, plan.map(\.octets)) == nil)
            #expect(received.messages.map(\.length) == expected, "\(count) × \(length)")
            #expect(received.messages.allSatisfy { $0.segmentSize == length })
        }
        #expect(DatagramBatch.maximumSegments == 64)
        #expect(64_400 <= DatagramBatch.maximumSegmentedLength && 65_800 > DatagramBatch.maximumSegmentedLength)
    }

    @Test("a socket whose kernel refuses segmentation falls back, and every datagram still arrives", arguments: [false, true])
    func refusedSegmentationFallsBack(ipv6: Bool) throws {
        let (receiver, address) = try loopbackSocket(ipv6: ipv6)
        #expect(receiver.enableReceiveCoalescing())
        let sender = try UDPSocket(ipv6: ipv6, receivePacketInfo: false)
        // Without UDP checksums the kernel refuses UDP_SEGMENT with EINVAL (udp_send_skb): a real refusal.
        // IPv6 requires UDP checksums (RFC 8200 §8.1), so its receiver must be told to take none.
        if ipv6 {
            try sender.setOption(TERN_SOL_UDP, 101, 1, "UDP_NO_CHECK6_TX")
            try receiver.setOption(TERN_SOL_UDP, 102, 1, "UDP_NO_CHECK6_RX")
        } else {
            try sender.setOption(SOL_SOCKET, 11, 1, "SO_NO_CHECK")
        }
        #expect(sender.sendsSegmented)

        let plan = [Planned(destination: address, octets: datagram(0, length: 300))]
            + (1...10).map { Planned(destination: address, octets: datagram($0, length: 1000)) }
            + [Planned(destination: address, octets: datagram(11, length: 200))]
        let batch = preparedBatch(plan)
        var refused = 0
        #expect(batch.send(0..<plan.count, on: sender, refused: &refused) == plan.count)
        #expect(refused == 0)
        #expect(!sender.sendsSegmented)
        #expect(sender.segmentationDisabledReason?.errno == EINVAL, "\(String(describing: sender.segmentationDisabledReason))")

        let received = try receive(plan.count, on: receiver)
        #expect(difference(received.datagrams, plan.map(\.octets)) == nil)
        #expect(received.messages.allSatisfy { $0.segmentSize == 0 }, "sent one by one: \(received.messages)")

        // Later batches go out one by one from the start.
        let again = preparedBatch((0..<5).map { Planned(destination: address, octets: datagram(100 + $0, length: 900)) })
        #expect(again.send(0..<5, on: sender, refused: &refused) == 5)
        let receivedAgain = try receive(5, on: receiver)
        #expect(receivedAgain.messages.count == 5 && receivedAgain.messages.allSatisfy { $0.segmentSize == 0 })
    }

    @Test("segmentation turned off by hand sends one datagram per message")
    func disabledByHand() throws {
        let (receiver, address) = try loopbackSocket(ipv6: false)
        #expect(receiver.enableReceiveCoalescing())
        let sender = try UDPSocket(ipv6: false, receivePacketInfo: false)
        sender.disableSendSegmentation(because: SystemCallError("configuration: offloads off", errno: 0))
        sender.disableSendSegmentation(because: SystemCallError("second reason", errno: EIO))
        #expect(!sender.sendsSegmented)
        #expect(sender.segmentationDisabledReason?.call == "configuration: offloads off", "the first reason is kept")
        let plan = (0..<6).map { Planned(destination: address, octets: datagram($0, length: 1000)) }
        var refused = 0
        #expect(preparedBatch(plan).send(0..<6, on: sender, refused: &refused) == 6)
        let received = try receive(6, on: receiver)
        #expect(difference(received.datagrams, plan.map(\.octets)) == nil)
        #expect(received.messages.count == 6 && received.messages.allSatisfy { $0.segmentSize == 0 })
    }

    @Test("without UDP_GRO a segmented run arrives datagram by datagram; truncation is still seen")
    func receiveWithoutCoalescing() throws {
        let (receiver, address) = try loopbackSocket(ipv6: false)
        let sender = try UDPSocket(ipv6: false, receivePacketInfo: false)
        let plan = (0..<5).map { Planned(destination: address, octets: datagram($0, length: 1000)) }
        var refused = 0
        #expect(preparedBatch(plan).send(0..<5, on: sender, refused: &refused) == 5)
        let received = try receive(5, on: receiver, slotLength: 1500)
        #expect(difference(received.datagrams, plan.map(\.octets)) == nil)
        #expect(received.messages.count == 5 && received.messages.allSatisfy { $0.length == 1000 && $0.segmentSize == 0 })

        // One datagram longer than the slot: cut and flagged, as before.
        #expect(preparedBatch([Planned(destination: address, octets: datagram(9, length: 800))]).send(0..<1, on: sender, refused: &refused) == 1)
        let cut = try receive(1, on: receiver, slotLength: 500)
        #expect(cut.truncated == 1 && cut.messages.first?.length == 500 && cut.messages.first?.segmentSize == 0)

        // With UDP_GRO on but slots too small for the run, the run is flagged truncated too.
        #expect(receiver.enableReceiveCoalescing())
        #expect(preparedBatch(plan).send(0..<5, on: sender, refused: &refused) == 5)
        let small = try receive(1, on: receiver, slotLength: 1500)
        #expect(small.truncated == 1, "\(small.messages)")
    }
}
