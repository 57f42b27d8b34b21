import TernOS
import Testing

@Suite("EventPoll: epoll(7) with tokens")
struct EventPollTests {
    @Test("a signalled descriptor comes back with its token, readable; nothing ready times out empty")
    func readiness() throws {
        let poll = try EventPoll()
        let quiet = try Notifier()
        let loud = try Notifier()
        try poll.add(quiet.descriptor.rawValue, token: 7)
        try poll.add(loud.descriptor.rawValue, token: 42)
        #expect(try poll.wait(timeoutMilliseconds: 0).isEmpty)
        loud.signal()
        let ready = try poll.wait(timeoutMilliseconds: 1000)
        #expect(ready.map(\.token) == [42] && ready.first?.isReadable == true)
        loud.drain()
        poll.remove(loud.descriptor.rawValue)
        loud.signal()
        #expect(try poll.wait(timeoutMilliseconds: 0).isEmpty)
    }

    @Test("the open-file limit is raised to the hard limit")
    func openFileLimit() throws {
        let limit = try OpenFileLimit.raiseToHardLimit()
        #expect(limit.soft == limit.hard)
    }
}
