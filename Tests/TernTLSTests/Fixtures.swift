import Foundation
import Testing
import TernOS
import TernProtocol
import TernTLS
import TernTestSupport

/// A value handed from a server thread to the test, read after `join`.
final class Box<Value>: @unchecked Sendable {
    var value: Value?
}

/// A TLS server on a kernel-chosen port of `host` that accepts one connection, handshakes and runs
/// `body`; the outcome is in `result` after ``join()``.
final class OneShotServer: @unchecked Sendable {
    let listener: TCPListener
    let address: SocketAddress
    let result = Box<Result<String, TLSError>>()
    let session = Box<TLSSession>()
    private var thread: PlatformThread?

    init(
        context: TLSServerContext, host: IPAddress = .v4(IPv4Address(127, 0, 0, 1)), timeout: Double = 10,
        body: @escaping @Sendable (TLSSession, Deadline) throws(TLSError) -> String = { _, _ in "" }
    ) throws {
        listener = try TCPListener(address: SocketAddress(host, port: 0))
        address = try listener.localAddress()
        let listener = self.listener
        let result = self.result
        let session = self.session
        thread = try PlatformThread(name: "tls-test-srv") {
            let deadline = Deadline.after(seconds: timeout)
            do {
                let connection: TCPConnection
                do throws(SystemCallError) {
                    connection = try listener.accept(deadline: deadline)
                } catch {
                    throw TLSError(.socket, "accept", detail: error.description)
                }
                let accepted = try context.accept(connection, deadline: deadline)
                session.value = accepted
                result.value = .success(try body(accepted, deadline))
            } catch let error as TLSError {
                result.value = .failure(error)
            } catch {
                result.value = .failure(TLSError(.socket, "server", detail: "\(error)"))
            }
        }
    }

    /// Waits for the server thread and returns its outcome.
    func join() -> Result<String, TLSError>? {
        thread?.join()
        thread = nil
        return result.value
    }
}

let loopback4 = IPAddress.v4(IPv4Address(127, 0, 0, 1))
