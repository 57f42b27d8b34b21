internal import COpenSSL
import TernOS

/// Driving a ``TLSSession`` from an event loop: nothing here waits. The loop moves the octets the
/// socket has into OpenSSL (``receiveAvailable(scratch:)``), steps the handshake or reads application
/// data until OpenSSL wants more, and sends what OpenSSL produced as far as the socket takes it
/// (``sendAvailable(scratch:)``; the rest waits in ``hasPendingOutput`` for the socket to be writable).
/// `scratch` is the loop's one buffer (at least one TLS record, 16 KiB + 512), shared by every session.
extension TLSSession {
    /// What a non-blocking read of the socket found.
    public enum Input: Sendable, Equatable {
        /// This many octets went to OpenSSL.
        case received(Int)
        /// Nothing yet.
        case wouldBlock
        /// The peer ended its direction of the stream.
        case endOfStream
    }

    /// The smallest scratch buffer the non-blocking calls take: one TLS record with its overhead.
    public static let scratchLength = 16 * 1024 + 512

    /// Octets of our records still waiting for room in the socket.
    public var hasPendingOutput: Bool { !pendingOutput.isEmpty || BIO_ctrl_pending(outgoing) > 0 }

    /// Reads once from the socket, without waiting, into OpenSSL's input.
    public func receiveAvailable(scratch: UnsafeMutableRawBufferPointer) throws(TLSError) -> Input {
        let operation = "TLS read from \(peerName)"
        let count: Int?
        do {
            count = try connection.readAvailable(into: scratch)
        } catch {
            throw TLSError.socket(error, operation)
        }
        guard let count else { return .wouldBlock }
        guard count > 0 else { return .endOfStream }
        guard BIO_write(incoming, scratch.baseAddress, Int32(count)) == Int32(count) else {
            throw TLSError.openSSL(.protocolError, operation, fallback: "BIO_write failed")
        }
        return .received(count)
    }

    /// Steps the server handshake with what has arrived; true once it is complete (then the negotiated
    /// version, cipher and ``tlsServerEndPoint`` are set). False: OpenSSL waits for more input.
    public func continueHandshake(scratch: UnsafeMutableRawBufferPointer) throws(TLSError) -> Bool {
        let operation = "TLS handshake with \(peerName)"
        guard try step(operation, scratch: scratch, { SSL_do_handshake($0) }) != nil else { return false }
        try handshakeFinished(operation, pinnedCertificate: nil)
        return true
    }

    /// Application data OpenSSL has decrypted, into `buffer`: how many octets, or nil when it needs more
    /// input. `scratch` carries any record OpenSSL must send meanwhile (e.g. a TLS 1.3 key update).
    /// - Throws: ``TLSError`` `.peerClosed` on close_notify, `.protocolError` on a bad record.
    public func readApplicationData(
        into buffer: UnsafeMutableRawBufferPointer, scratch: UnsafeMutableRawBufferPointer
    ) throws(TLSError) -> Int? {
        let operation = "TLS read from \(peerName)"
        let length = Int32(clamping: buffer.count)
        return try step(operation, scratch: scratch) { SSL_read($0, buffer.baseAddress, length) }.map(Int.init)
    }

    /// Encrypts `bytes` (memory BIOs take any amount) and sends what the socket takes now.
    public func queue(_ bytes: [UInt8], scratch: UnsafeMutableRawBufferPointer) throws(TLSError) {
        let operation = "TLS write of \(bytes.count) octets to \(peerName)"
        var offset = 0
        while offset < bytes.count {
            let written = try bytes.withUnsafeBytes { raw in
                capturing { () throws(TLSError) -> Int32? in
                    let rest = raw.baseAddress.unsafelyUnwrapped + offset
                    let length = Int32(clamping: raw.count - offset)
                    return try step(operation, scratch: scratch) { SSL_write($0, rest, length) }
                }
            }.get()
            guard let written else { throw TLSError(.protocolError, operation, detail: "OpenSSL wants input to write") }
            offset += Int(written)
        }
    }

    /// Queues close_notify (the peer's answer, if any, is read and discarded by the caller).
    public func queueShutdown(scratch: UnsafeMutableRawBufferPointer) throws(TLSError) {
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        _ = try sendAvailable(scratch: scratch)
    }

    /// Sends what OpenSSL produced, as much as the socket takes without waiting; true when all is sent.
    @discardableResult
    public func sendAvailable(scratch: UnsafeMutableRawBufferPointer) throws(TLSError) -> Bool {
        let operation = "TLS write to \(peerName)"
        while BIO_ctrl_pending(outgoing) > 0 {
            let count = BIO_read(outgoing, scratch.baseAddress, Int32(clamping: scratch.count))
            guard count > 0 else { break }
            pendingOutput.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[0..<Int(count)]))
        }
        while !pendingOutput.isEmpty {
            let attempt = pendingOutput.withUnsafeBytes { raw in
                capturing { () throws(SystemCallError) in try connection.writeAvailable(raw) }
            }
            let sent: Int?
            switch attempt {
            case .success(let count): sent = count
            case .failure(let error): throw TLSError.socket(error, operation)
            }
            guard let sent, sent > 0 else { return false }
            pendingOutput.removeFirst(sent)
        }
        return true
    }

    /// One SSL_* call: its positive result, or nil when OpenSSL wants input; what it produced is sent
    /// (a fatal alert too, before its error is reported).
    private func step(
        _ operation: String, scratch: UnsafeMutableRawBufferPointer, _ body: (OpaquePointer) -> Int32
    ) throws(TLSError) -> Int32? {
        ERR_clear_error()
        let result = body(ssl)
        let code = result > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl, result)
        do {
            try sendAvailable(scratch: scratch)
        } catch where code == SSL_ERROR_NONE || code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE {
            throw error
        } catch {
            // The call failed anyway; its own error says more than the failed alert delivery.
        }
        switch code {
        case SSL_ERROR_NONE: return result
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return nil
        case SSL_ERROR_ZERO_RETURN: throw TLSError(.peerClosed, operation, detail: "the peer sent close_notify")
        case SSL_ERROR_SSL:
            let kind: TLSError.Kind = SSL_is_init_finished(ssl) == 1 ? .protocolError : .handshake
            throw TLSError.openSSL(kind, operation, fallback: "OpenSSL reported an error without a reason")
        default:
            throw TLSError.openSSL(.protocolError, operation, fallback: "SSL_get_error \(code)")
        }
    }
}
