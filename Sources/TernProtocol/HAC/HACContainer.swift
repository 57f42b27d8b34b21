/// One request or response of the MN–HAC protocol (RFC 6618 §5.1, Figure 3):
/// `Ver(3)=0 | Rsrvd(5)=0 | Identifier(8) | Length(16, network order)` then 1…65535 octets of Content.
public struct HACContainer: Sendable, Hashable {
    /// Octets before the Content.
    public static let headerLength = 4
    /// The most the 16-bit Length field can say.
    public static let maximumWireContentLength = 65535

    /// 1…255; a response copies its request's (§5.1, §5.3).
    public let identifier: UInt8
    /// The TV-header text, exactly as sent or received; `auth` covers these octets (DESIGN.md, msg-octets).
    public let content: [UInt8]

    /// Nil for Identifier 0 or a Content of 0 or more than 65535 octets: values the wire cannot carry.
    public init?(identifier: UInt8, content: [UInt8]) {
        guard identifier != 0, (1...Self.maximumWireContentLength).contains(content.count) else { return nil }
        self.identifier = identifier
        self.content = content
    }

    /// The container as it goes on the wire.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Self.headerLength + content.count)
        out.append(0)  // Ver 0, Rsrvd 0
        out.append(identifier)
        out.append(UInt8(truncatingIfNeeded: content.count >> 8))
        out.append(UInt8(truncatingIfNeeded: content.count))
        out.append(contentsOf: content)
        return out
    }

    /// Checks a 4-octet container header and returns the Content length it announces.
    static func contentLength(header b0: UInt8, _ b1: UInt8, _ b2: UInt8, _ b3: UInt8, limit: Int)
        throws(HACError) -> Int
    {
        guard b0 >> 5 == 0 else { throw HACError(.unsupportedVersion(b0 >> 5)) }
        guard b0 & 0x1F == 0 else { throw HACError(.reservedBitsSet(b0 & 0x1F)) }
        guard b1 != 0 else { throw HACError(.zeroIdentifier) }
        let length = Int(b2) << 8 | Int(b3)
        guard length != 0 else { throw HACError(.emptyContent) }
        guard length <= limit else { throw HACError(.contentTooLong(length: length, limit: limit)) }
        return length
    }

    /// Decodes exactly one container that fills `bytes`; for datagram-like callers and tests.
    /// - Throws: every framing error, ``HACError/Kind/truncated(needed:had:)`` when short, and
    ///   ``HACError/Kind/trailingOctets`` when `bytes` holds more than one container.
    public init(
        decoding bytes: some Collection<UInt8>,
        maximumContentLength: Int = HACContainerDecoder.defaultMaximumContentLength
    ) throws(HACError) {
        let array = Array(bytes)
        guard array.count >= Self.headerLength else { throw HACError(.truncated(needed: Self.headerLength, had: array.count)) }
        let length = try Self.contentLength(
            header: array[0], array[1], array[2], array[3], limit: maximumContentLength)
        guard array.count >= Self.headerLength + length else {
            throw HACError(.truncated(needed: Self.headerLength + length, had: array.count))
        }
        guard array.count == Self.headerLength + length else { throw HACError(.trailingOctets) }
        identifier = array[1]
        content = Array(array[Self.headerLength...])
    }
}

/// Cuts a TLS byte stream into ``HACContainer``s (RFC 6618 §5.1). Feed whatever the TLS layer yields with
/// ``append(_:)``, then call ``next()`` until it returns nil.
///
/// A header is checked as soon as its 4 octets arrive, so a bad or oversized container is refused before
/// its Content is buffered. After an error the decoder stays failed: a framing error means the stream can
/// no longer be trusted to be in sync, and the HAC answers and closes (§5.3).
public struct HACContainerDecoder: Sendable {
    /// The largest Content Tern accepts: 16 KiB. §5.1 allows 65535, but a PSK message is well under 1 KiB
    /// (about twenty short headers) and even an EAP message carrying a certificate chain in hex fits;
    /// the smaller bound caps what one unauthenticated peer can make the HAC hold.
    public static let defaultMaximumContentLength = 16 * 1024

    public let maximumContentLength: Int
    /// The exchange is lock-step, so a peer never legitimately has more than one container in flight;
    /// buffering is capped at two of the largest accepted containers.
    public var maximumBufferedLength: Int { 2 * (HACContainer.headerLength + maximumContentLength) }

    private var buffer: [UInt8] = []
    private var start = 0
    private var failure: HACError?

    /// - Parameter maximumContentLength: clamped to 1…65535.
    public init(maximumContentLength: Int = Self.defaultMaximumContentLength) {
        self.maximumContentLength = min(max(maximumContentLength, 1), HACContainer.maximumWireContentLength)
    }

    /// Octets received but not yet returned in a container.
    public var bufferedCount: Int { buffer.count - start }

    /// Adds octets from the stream.
    /// - Throws: ``HACError/Kind/tooMuchBufferedData(limit:)`` when the peer runs too far ahead.
    public mutating func append(_ bytes: some Collection<UInt8>) throws(HACError) {
        if let failure { throw failure }
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeFirst(start)
            start = 0
        }
        guard bufferedCount + bytes.count <= maximumBufferedLength else {
            let error = HACError(.tooMuchBufferedData(limit: maximumBufferedLength))
            failure = error
            throw error
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete container, or nil if more octets are needed.
    public mutating func next() throws(HACError) -> HACContainer? {
        if let failure { throw failure }
        guard bufferedCount >= HACContainer.headerLength else { return nil }
        let length: Int
        do {
            length = try HACContainer.contentLength(
                header: buffer[start], buffer[start + 1], buffer[start + 2], buffer[start + 3],
                limit: maximumContentLength)
        } catch {
            failure = error
            throw error
        }
        guard bufferedCount >= HACContainer.headerLength + length else { return nil }
        let identifier = buffer[start + 1]
        let contentStart = start + HACContainer.headerLength
        let content = Array(buffer[contentStart..<contentStart + length])
        start = contentStart + length
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        // Identifier and length were checked above, so this cannot fail; stay total anyway.
        guard let container = HACContainer(identifier: identifier, content: content) else {
            let error = HACError(.internalFailure("container decode"))
            failure = error
            throw error
        }
        return container
    }

    /// Call when the stream ends: octets left over mean the peer stopped inside a container.
    public func finish() throws(HACError) {
        if let failure { throw failure }
        guard bufferedCount == 0 else {
            var needed = HACContainer.headerLength
            if bufferedCount >= HACContainer.headerLength {
                needed += Int(buffer[start + 2]) << 8 | Int(buffer[start + 3])
            }
            throw HACError(.truncated(needed: needed, had: bufferedCount))
        }
    }
}
