import TernHAC
public import TernOS
public import TernProtocol
public import TernTLS

/// Reads and writes RFC 6618 §5.1 containers over a TLS session, each read bounded by a deadline and by
/// the decoder's content limit (checked from the 4-octet header, before the content is read).
public struct ContainerStream {
    public let session: TLSSession
    private var decoder = HACContainerDecoder()

    public init(session: TLSSession) { self.session = session }

    /// The next container, or an error: framing (`HACError`, which the HAC answers with 400), or the
    /// stream (`TLSError`: timeout, peer closed).
    public mutating func read(deadline: Deadline) throws(ControllerError) -> HACContainer {
        do {
            let header = try session.readExactly(HACContainer.headerLength, deadline: deadline)
            try decoder.append(header)
            if let container = try decoder.next() { return container }
            let length = Int(header[2]) << 8 | Int(header[3])
            try decoder.append(try session.readExactly(length, deadline: deadline))
            guard let container = try decoder.next() else {
                throw ControllerError.framing(HACError(.truncated(needed: length, had: 0)))
            }
            return container
        } catch let error as HACError {
            throw .framing(error)
        } catch let error as TLSError {
            throw .transport(error)
        } catch let error as ControllerError {
            throw error
        } catch {
            throw .internalFailure("\(error)")
        }
    }

    public func write(_ container: HACContainer, deadline: Deadline) throws(ControllerError) {
        do {
            try session.write(container.encoded(), deadline: deadline)
        } catch {
            throw .transport(error)
        }
    }
}

/// Why a controller exchange ended badly, for the local log or the MN's user (never sent to the peer:
/// the peer sees only an RFC 6618 status code).
public enum ControllerError: Error, Sendable, CustomStringConvertible {
    /// The container framing or the message did not parse.
    case framing(HACError)
    /// The PSK exchange failed (wrong key, channel binding, nonces, suite, a status from the HAC …).
    case exchange(HACError)
    /// TLS or TCP: handshake, verification, timeout, peer closed.
    case transport(TLSError)
    /// The store could not provision (the MN sees 500).
    case store(String)
    case internalFailure(String)

    public var description: String {
        switch self {
        case .framing(let error): "malformed message: \(error)"
        case .exchange(let error): "\(error)"
        case .transport(let error): "\(error)"
        case .store(let reason): "controller database: \(reason)"
        case .internalFailure(let reason): "internal error: \(reason)"
        }
    }
}
