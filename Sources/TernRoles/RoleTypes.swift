import TernDataChannel
public import TernProtocol

/// One datagram of a received batch, as a role core sees it: where it lies in its caller-owned slot,
/// who sent it, and to which local address. Opened in place; nothing is copied.
public struct ReceivedDatagram {
    public let buffer: UnsafeMutableRawBufferPointer
    public let range: Range<Int>
    public let source: SocketAddress?
    public let local: LocalAddress

    @inline(__always)
    public init(buffer: UnsafeMutableRawBufferPointer, range: Range<Int>, source: SocketAddress?, local: LocalAddress) {
        self.buffer = buffer
        self.range = range
        self.source = source
        self.local = local
    }
}

/// What a received datagram asks of the engine once a core has decided on it (boringtun's
/// `TunnResult`): write the inner packet at `range` of the datagram's own slot to the TUN device, or
/// nothing (dropped and counted, a keepalive, or a Mobility Header the core answered).
public enum ReceiveVerdict: Equatable {
    case writeToTun(Range<Int>)
    case done
}

/// A Mobility Header a core wants sealed as PType 8 under `session`'s outbound SA and sent to
/// `endpoint` (the HA's Binding Acknowledgements and Errors). Rare: the octets are an array.
public struct OutgoingMobilityHeader: Sendable {
    public var session: MobileNodeSession
    public var endpoint: Endpoint
    public var octets: [UInt8]

    public init(session: MobileNodeSession, endpoint: Endpoint, octets: [UInt8]) {
        self.session = session
        self.endpoint = endpoint
        self.octets = octets
    }
}

/// What the Home Agent's core asks to be recorded and done after a received batch, besides the TUN
/// writes each ``ReceiveVerdict`` names. Caller-owned and reused: its arrays keep their capacity, so a
/// steady stream of data appends nothing (these are rare events: signalling, binding moves).
public struct HomeAgentActions {
    /// For the log: bindings moved, Binding Updates answered, bindings expired.
    public var events: [TunnelEvent] = []
    /// Binding Acknowledgements and Errors for the sending side to seal and send.
    public var replies: [OutgoingMobilityHeader] = []
    /// Bindings registered, refreshed or gone, for whoever persists them.
    public var bindingChanges: [HomeAgentBindingChange] = []
    /// An SA's highest accepted MN→HA number moved: the state thread should persist it.
    public var highWaterMoved = false
    /// The binding cache changed: its published snapshot is stale.
    public var cacheChanged = false

    public init() {}

    /// Forgets what was handed on, keeping the arrays' capacity.
    public mutating func removeAll() {
        if !events.isEmpty { events.removeAll(keepingCapacity: true) }
        if !replies.isEmpty { replies.removeAll(keepingCapacity: true) }
        if !bindingChanges.isEmpty { bindingChanges.removeAll(keepingCapacity: true) }
        highWaterMoved = false
        cacheChanged = false
    }
}
