/// Where a data plane reads inner packets from and writes them to: a TUN device, or an in-memory one
/// in tests (Tests/TernTestSupport). Shaped after wireguard-go's `tun.Device`; the data planes are
/// generic over it (specialized: no existential call per packet).
///
/// Readiness is a pollable descriptor, readable (level-triggered, POLLIN) while a packet waits: the
/// data planes wait on it with `poll(2)` beside their notifiers, and an in-memory device implements it
/// with an eventfd it keeps signalled while its queue is not empty (``Notifier``).
///
/// Non-blocking: `read` returns nil when nothing waits, `write` false when the queue is full (the
/// packet is dropped, as the kernel's TUN queue drops).
public protocol PacketDevice: AnyObject, Sendable {
    /// Readable while a packet waits to be read.
    var readinessDescriptor: Int32 { get }
    /// Octets of virtio header before every packet read or written (``TunDevice/virtioNetHeaderLength``),
    /// or 0 without virtio headers.
    var virtioHeaderLength: Int { get }
    /// Asks for the offloads in `wanted`; returns those accepted ([] without virtio headers).
    func enableOffloads(_ wanted: TunOffloads) -> TunOffloads
    /// Reads one packet (after its virtio header, when the device has them) into `buffer`; returns the
    /// octets read, or nil when none is waiting.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemCallError) -> Int?
    /// Writes one packet (after its virtio header, when the device has them). False when the queue is
    /// full and the packet was dropped.
    func write(_ packet: UnsafeRawBufferPointer) throws(SystemCallError) -> Bool
}

/// Where a data plane sends and receives its datagrams: a UDP socket of one address family, or an
/// in-memory network in tests. Shaped after wireguard-go's `conn.Bind`: called once per batch, into and
/// out of a ``DatagramBatch`` (sources, local addresses, UDP_GRO segment sizes per slot).
///
/// Readiness as for ``PacketDevice``: ``readinessDescriptor`` is readable while a datagram waits.
public protocol DatagramTransport: AnyObject, Sendable {
    /// Readable while a datagram waits to be received.
    var readinessDescriptor: Int32 { get }
    /// True for an IPv6 transport (each family has its own, so replies can name their source).
    var isIPv6: Bool { get }
    /// True while ``send(_:of:refused:)`` may pack runs of equal datagrams into one message.
    var sendsSegmented: Bool { get }
    /// Stops send segmentation for good; the first reason is kept.
    func disableSendSegmentation(because reason: SystemCallError)
    /// Lets a receive deliver a run of datagrams from one peer in one slot (UDP_GRO); false if refused.
    func enableReceiveCoalescing() -> Bool
    /// Receives up to `batch.capacity` datagrams into `batch`, from slot 0; returns how many slots were
    /// filled (0 when none was waiting).
    func receive(into batch: DatagramBatch) throws(SystemCallError) -> Int
    /// Sends the datagrams prepared in `slots` of `batch`, in order; returns how many went out, and
    /// counts in `refused` those refused for good (see ``DatagramBatch/send(_:on:refused:)``).
    func send(_ slots: Range<Int>, of batch: DatagramBatch, refused: inout Int) -> Int
}

extension TunDevice: PacketDevice {
    @inline(__always)
    public var readinessDescriptor: Int32 { descriptor.rawValue }
}

extension UDPSocket: DatagramTransport {
    @inline(__always)
    public var readinessDescriptor: Int32 { descriptor.rawValue }

    @inline(__always)
    public func receive(into batch: DatagramBatch) throws(SystemCallError) -> Int { try batch.receive(from: self) }

    @inline(__always)
    public func send(_ slots: Range<Int>, of batch: DatagramBatch, refused: inout Int) -> Int {
        batch.send(slots, on: self, refused: &refused)
    }
}
