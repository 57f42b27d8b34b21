import Foundation
import TernCrypto
import TernHAC
import TernOS
import TernProtocol
import TernTLS

/// One connection to the HAC as the event loop sees it.
final class ControllerConnection {
    enum Stage {
        case handshaking
        case exchanging
        /// A failure's response waits out the throttle's delay (``AuthenticationThrottle``).
        case holding(until: UInt64, response: HACContainer, result: HACServerResult)
        /// The final response and close_notify are on their way out.
        case closing(HACServerResult)
        /// Answered and counted; waiting for the MN's close so that ours never resets the connection.
        case lingering
    }

    let id: ConnectionAdmission.ID
    let tcp: TCPConnection
    let session: TLSSession
    let peer: String
    let source: ConnectionSource
    let provisioner: Provisioner
    var stage = Stage.handshaking
    var server: PSKServer?
    var decoder = HACContainerDecoder()
    /// The identity MHAuth-Init named, and the delay the throttle gave its failure.
    var identity: String?
    var failureDelaySeconds = 0.0
    /// The throttle let this connection's key be tried; any end but success counts as a failure, once.
    var evaluated = false
    var watchingWrite = false

    init(id: ConnectionAdmission.ID, tcp: TCPConnection, session: TLSSession, source: ConnectionSource, provisioner: Provisioner) {
        self.id = id
        self.tcp = tcp
        self.session = session
        self.peer = tcp.peerAddress?.description ?? "?"
        self.source = source
        self.provisioner = provisioner
    }
}

/// What only the event loop's thread touches.
struct EventLoopState {
    var admission: ConnectionAdmission
    var throttle: AuthenticationThrottle
    var summary = EventSummary()
    var connections: [ConnectionAdmission.ID: ControllerConnection] = [:]
    /// Connections in ``ControllerConnection/Stage/holding``.
    var holds: Set<ConnectionAdmission.ID> = []
    /// The next check of the admission's deadlines (nil: no connection).
    var nextExpiry: UInt64?
    /// Accepting paused (no descriptor left: EMFILE) until then.
    var acceptPausedUntil: UInt64?
    let poll: EventPoll
    /// One TLS record, for every session's moves between OpenSSL and its socket.
    let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: TLSSession.scratchLength, alignment: 16)
    /// Decrypted application data, before the container decoder takes it.
    let plaintext = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 * 1024, alignment: 16)

    init(settings: HomeAgentControllerService.Settings) throws(SystemCallError) {
        admission = ConnectionAdmission(limits: settings.limits)
        throttle = AuthenticationThrottle(limits: settings.throttle)
        poll = try EventPoll()
    }
}

extension HomeAgentControllerService {
    /// Connections accepted per listener wake-up before the loop serves the others.
    static let acceptsPerWake = 64
    /// Socket reads per connection per wake-up (level-triggered: the rest comes at the next wait).
    static let readsPerWake = 4
    /// How long accepting pauses when the process has no descriptor left.
    static let acceptPauseNanoseconds: UInt64 = 100_000_000
    /// Deadlines are checked at most this often (a scan of every connection).
    static let expiryIntervalNanoseconds: UInt64 = 50_000_000

    private static let wakeToken = UInt64.max

    func runLoop() {
        for (index, listener) in listeners.enumerated() {
            try? loop.poll.add(listener.descriptor.rawValue, token: UInt64.max - 1 - UInt64(index))
        }
        try? loop.poll.add(wakeUp.descriptor.rawValue, token: Self.wakeToken)
        while !stopping.load(ordering: .acquiring) {
            let ready: [EventPoll.Ready]
            do {
                ready = try loop.poll.wait(timeoutMilliseconds: timeout(now: monotonicNanoseconds()))
            } catch {
                events(.failed(peer: "-", reason: "epoll_wait: \(error)"))
                usleep(10_000)
                continue
            }
            for event in ready {
                if event.token == Self.wakeToken { continue }
                if event.token >= UInt64.max - UInt64(listeners.count) {
                    let index = Int(UInt64.max - 1 - event.token)
                    if listeners.indices.contains(index) { acceptBurst(listeners[index]) }
                } else if let connection = loop.connections[event.token] {
                    drive(connection, now: monotonicNanoseconds())
                }
            }
            housekeeping(now: monotonicNanoseconds())
        }
        for id in Array(loop.connections.keys) { discard(id) }
        loop.scratch.deallocate()
        loop.plaintext.deallocate()
    }

    /// Milliseconds until the next thing the loop must do by itself; −1 when nothing is pending (an idle
    /// controller sleeps until a client connects).
    private func timeout(now: UInt64) -> Int32 {
        let due = [loop.nextExpiry, loop.summary.nextFlush, loop.acceptPausedUntil].compactMap { $0 }.min()
        guard let due else { return -1 }
        return due <= now ? 0 : Int32(clamping: (due - now + 999_999) / 1_000_000)
    }

    private func housekeeping(now: UInt64) {
        if let paused = loop.acceptPausedUntil, now >= paused {
            loop.acceptPausedUntil = nil
            for (index, listener) in listeners.enumerated() {
                try? loop.poll.add(listener.descriptor.rawValue, token: UInt64.max - 1 - UInt64(index))
            }
        }
        if let due = loop.nextExpiry, now >= due {
            let (expired, _) = loop.admission.expire(now: now)
            for closure in expired { end(closure.id, reason: closure.reason, now: now) }
            for id in loop.holds {
                guard let connection = loop.connections[id], case .holding(let until, let response, let result) = connection.stage,
                    until <= now
                else { continue }
                loop.holds.remove(id)
                do {
                    try send(response, result, on: connection)
                } catch {
                    fail(connection, .transport(error), now: now)
                    continue
                }
                settle(connection, now: now)
            }
            loop.nextExpiry = loop.connections.isEmpty ? nil : now &+ Self.expiryIntervalNanoseconds
        }
        for line in loop.summary.flush(now: now) { events(.summary(line)) }
        counters.setOpen(loop.connections.count)
    }

    private func acceptBurst(_ listener: TCPListener) {
        for _ in 0..<Self.acceptsPerWake {
            let accepted: TCPConnection?
            do {
                accepted = try listener.acceptPending()
            } catch {
                if error.errno == EMFILE || error.errno == ENFILE || error.errno == ENOBUFS || error.errno == ENOMEM {
                    // No descriptor for it: the connection stays queued in the kernel; stop polling the
                    // listener for a moment (it would stay readable and spin the loop).
                    loop.poll.remove(listener.descriptor.rawValue)
                    loop.acceptPausedUntil = monotonicNanoseconds() &+ Self.acceptPauseNanoseconds
                    counters.add(.refused)
                    note(source: "-", peer: "-", reason: "accept: \(error)", category: "no descriptor left", refused: true)
                } else if error.errno != ECONNABORTED {
                    note(source: "-", peer: "-", reason: "accept: \(error)", category: "accept failed", refused: false)
                }
                return
            }
            guard let tcp = accepted else { return }
            admit(tcp, now: monotonicNanoseconds())
        }
    }

    private func admit(_ tcp: TCPConnection, now: UInt64) {
        counters.add(.accepted)
        let source = tcp.peerAddress.map { ConnectionSource($0.address) } ?? .v4(IPv4Address(rawValue: 0))
        switch loop.admission.admit(source, now: now) {
        case .refuse(let refusal):
            counters.add(.refused)
            HACExchangeOutcome.refused.count()
            note(
                source: source.description, peer: tcp.peerAddress?.description ?? "?", reason: refusal.rawValue,
                category: "refused: \(refusal.rawValue)", refused: true)
        case .admit(let id, let shed):
            for closure in shed { end(closure.id, reason: closure.reason, now: now) }
            do {
                let session = try tls.session(for: tcp)
                let connection = ControllerConnection(
                    id: id, tcp: tcp, session: session, source: source,
                    provisioner: Provisioner(settings: settings, store: store))
                try loop.poll.add(tcp.descriptor.rawValue, token: id)
                loop.connections[id] = connection
                if loop.nextExpiry == nil { loop.nextExpiry = now &+ Self.expiryIntervalNanoseconds }
            } catch {
                loop.admission.remove(id)
                counters.add(.failed)
                HACExchangeOutcome.serverError.count()
                note(source: source.description, peer: "\(tcp.peerAddress?.description ?? "?")", reason: "\(error)",
                     category: "internal error", refused: false)
            }
        }
    }

    /// Serves what one connection's socket has.
    private func drive(_ connection: ControllerConnection, now: UInt64) {
        do throws(TLSError) {
            if connection.session.hasPendingOutput { try connection.session.sendAvailable(scratch: loop.scratch) }
            reading: for _ in 0..<Self.readsPerWake {
                switch try connection.session.receiveAvailable(scratch: loop.scratch) {
                case .wouldBlock:
                    break reading
                case .endOfStream:
                    if case .lingering = connection.stage { return discard(connection.id) }
                    throw TLSError(.peerClosed, "TLS read from \(connection.peer)", detail: "end of stream without close_notify")
                case .received:
                    loop.admission.advance(connection.id, to: .handshaking, now: now)
                }
                try process(connection, now: now)
                guard loop.connections[connection.id] != nil else { return }
                completeIfSent(connection)
            }
        } catch {
            if case .lingering = connection.stage { return discard(connection.id) }
            return fail(connection, .transport(error), now: now)
        }
        settle(connection, now: now)
    }

    private func process(_ connection: ControllerConnection, now: UInt64) throws(TLSError) {
        if case .handshaking = connection.stage {
            guard try connection.session.continueHandshake(scratch: loop.scratch) else { return }
            loop.admission.advance(connection.id, to: .exchanging, now: now)
            connection.stage = .exchanging
            connection.server = makeServer(for: connection, now: now)
        }
        while true {
            guard let count = try connection.session.readApplicationData(into: loop.plaintext, scratch: loop.scratch) else {
                return
            }
            guard case .exchanging = connection.stage else { continue }  // after the answer: discarded
            do {
                try connection.decoder.append(UnsafeRawBufferPointer(rebasing: loop.plaintext[0..<count]))
                while case .exchanging = connection.stage, let container = try connection.decoder.next() {
                    guard var server = connection.server else { return }
                    let action = server.receive(container, now: monotonicNanoseconds())
                    connection.server = server
                    try apply(action, to: connection, now: now)
                }
            } catch let error as HACError {
                guard var server = connection.server else { return }
                let action = server.fail(error, now: monotonicNanoseconds())
                connection.server = server
                try apply(action, to: connection, now: now)
            } catch let error as TLSError {
                throw error
            } catch {
                throw TLSError(.protocolError, "HAC exchange with \(connection.peer)", detail: "\(error)")
            }
        }
    }
}
