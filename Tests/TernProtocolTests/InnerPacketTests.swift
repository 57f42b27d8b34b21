import Testing
import TernProtocol

@Suite("Inner packet addresses and the keepalive schedule")
struct InnerPacketTests {
    @Test("IPv4 and IPv6 source and destination; malformed headers do not parse")
    func addresses() {
        var v4 = [UInt8](repeating: 0, count: 28)
        v4[0] = 0x45
        v4.replaceSubrange(12..<16, with: [192, 0, 2, 10])
        v4.replaceSubrange(16..<20, with: [198, 51, 100, 2])
        v4.withUnsafeBytes {
            #expect(InnerPacket.source($0, 0..<28) == IPAddress("192.0.2.10"))
            #expect(InnerPacket.destination($0, 0..<28) == IPAddress("198.51.100.2"))
            #expect(InnerPacket.destination($0, 0..<19) == nil, "shorter than the header")
        }
        v4[0] = 0x44  // IHL 4: below the minimum
        v4.withUnsafeBytes { #expect(InnerPacket.destination($0, 0..<28) == nil) }
        v4[0] = 0x4F  // IHL 15: 60 octets, longer than the packet
        v4.withUnsafeBytes { #expect(InnerPacket.destination($0, 0..<28) == nil) }

        var v6 = [UInt8](repeating: 0, count: 40)
        v6[0] = 0x60
        v6[8] = 0x20; v6[9] = 0x01; v6[10] = 0x0d; v6[11] = 0xb8; v6[23] = 0x10
        v6[24] = 0x20; v6[25] = 0x01; v6[26] = 0x0d; v6[27] = 0xb8; v6[29] = 2; v6[39] = 1
        v6.withUnsafeBytes {
            #expect(InnerPacket.source($0, 0..<40) == IPAddress("2001:db8::10"))
            #expect(InnerPacket.destination($0, 0..<40) == IPAddress("2001:db8:2::1"))
            #expect(InnerPacket.source($0, 0..<39) == nil)
        }
        let garbage: [UInt8] = [0x55, 1, 2, 3]
        garbage.withUnsafeBytes {
            #expect(InnerPacket.source($0, 0..<4) == nil)
            #expect(InnerPacket.source($0, 0..<0) == nil)
            #expect(InnerPacket.source($0, 2..<9) == nil, "a range past the buffer")
        }
    }

    @Test("keepalives only after a whole idle interval")
    func keepalive() {
        let second: UInt64 = 1_000_000_000
        var schedule = KeepaliveSchedule(intervalSeconds: 25, now: 100 * second)
        #expect(!schedule.isDue(at: 124 * second))
        #expect(schedule.isDue(at: 125 * second))
        schedule.sent(at: 120 * second)
        #expect(!schedule.isDue(at: 125 * second))
        #expect(schedule.millisecondsUntilDue(at: 125 * second, cap: 60_000) == 20_000)
        #expect(schedule.millisecondsUntilDue(at: 125 * second, cap: 1_000) == 1_000)
        #expect(schedule.millisecondsUntilDue(at: 200 * second, cap: 1_000) == 0)
        let off = KeepaliveSchedule(intervalSeconds: 0, now: 0)
        #expect(!off.isDue(at: UInt64.max))
    }
}

@Suite("PublishSchedule: counters published while busy, never a wake-up while idle")
struct PublishScheduleTests {
    @Test("idle: no timeout; after activity: due within the interval, then idle again")
    func schedule() {
        var schedule = PublishSchedule(now: 1_000)
        #expect(schedule.pollTimeout(at: 5_000_000_000) == -1, "nothing to publish: sleep without a timeout")
        #expect(!schedule.isDue(at: 5_000_000_000))
        schedule.changed()
        #expect(schedule.isDue(at: 5_000_000_000), "long since the last publication")
        schedule.published(at: 5_000_000_000)
        schedule.changed()
        #expect(!schedule.isDue(at: 5_100_000_000))
        #expect(schedule.pollTimeout(at: 5_100_000_000) == 100)
        #expect(schedule.pollTimeout(at: 5_199_999_999) == 1, "rounded up, never early")
        #expect(schedule.isDue(at: 5_200_000_000))
        schedule.published(at: 5_200_000_000)
        #expect(schedule.pollTimeout(at: 5_300_000_000) == -1)
    }

    @Test("the shorter of two poll timeouts, −1 meaning none")
    func shorter() {
        #expect(shorterPollTimeout(-1, -1) == -1)
        #expect(shorterPollTimeout(-1, 40) == 40)
        #expect(shorterPollTimeout(30, -1) == 30)
        #expect(shorterPollTimeout(30, 40) == 30)
        #expect(shorterPollTimeout(0, 40) == 0)
    }
}
