/// Anti-replay for one inbound SA: RFC 4303 §3.4.3 with the RFC 6479 ring bitmap.
///
/// The bitmap is ``blockCount`` 64-bit blocks used as a ring. Moving the window forward clears whole
/// blocks instead of shifting bits, so an advance costs at most one pass over the blocks and a check is
/// two shifts and a mask. One block is always the partly filled leading block, so the window is
/// guaranteed to cover ``size`` = (blockCount − 1) × 64 = 8,128 numbers below the highest accepted one —
/// above the project's minimum of 4,096, because batched, multi-core senders reorder.
///
/// Use in two steps, as RFC 4303 §3.4.3 orders them: ``check(_:)`` before the ICV is computed (cheap
/// rejection of replays), ``accept(_:)`` only after the ICV verifies. ``accept(_:)`` checks again, so a
/// duplicate that raced past ``check(_:)`` is still refused.
///
/// The zero value (``init()``) is a fresh window that has accepted nothing. 32-bit sequence numbers only
/// (no ESN): the sender never wraps, so neither does the window.
public struct ReplayWindow: Sendable {
    /// The ring's storage: inline, so the window is one allocation-free value.
    private typealias Blocks = InlineArray<128, UInt64>
    /// 64-bit blocks in the ring; a power of two so that the block index is a mask.
    public static let blockCount = Blocks.count
    /// Sequence numbers below the highest accepted one that are still tracked.
    public static let size = (blockCount - 1) * 64

    /// What the window says about one sequence number.
    public enum Verdict: Sendable, Hashable {
        /// Greater than every number accepted so far: the packet is the newest (DESIGN.md "Newest packet").
        case newest
        /// Within the window and not seen yet: authentic reordering.
        case reordered
        /// Already accepted.
        case duplicate
        /// So far below the highest accepted number that the window no longer tracks it.
        case tooOld
        /// 0 is never sent under an SA (RFC 4303 §3.3.3, DESIGN.md).
        case zero

        /// True for the two verdicts that let a packet through.
        public var isAcceptable: Bool { self == .newest || self == .reordered }
    }

    private static let blockMask = UInt64(blockCount - 1)

    private var blocks: Blocks
    /// The highest sequence number accepted so far; 0 before the first.
    public private(set) var highestAccepted: UInt32

    public init() {
        blocks = Blocks(repeating: 0)
        highestAccepted = 0
    }

    /// A window that refuses every number up to and including `floor`, as if all of them had been
    /// accepted: an SA restored after a restart, whose previous run may have accepted up to `floor`
    /// (docs/tunnel.md, "Restarts"). Numbers within ``size`` below `floor` are ``Verdict/duplicate``
    /// (counted `replayed`), older ones ``Verdict/tooOld``; `floor + 1` is ``Verdict/newest``.
    public init(refusingThrough floor: UInt32) {
        highestAccepted = floor
        blocks = Blocks(repeating: floor == 0 ? 0 : .max)
        guard floor > 0 else { return }
        // The leading block holds no bit above the highest accepted number (accept(_:) relies on it).
        let (block, bit) = Self.position(of: floor)
        blocks[block] = bit | (bit &- 1)
    }

    /// The verdict for `sequenceNumber`, without changing the window.
    @inline(__always)
    public func check(_ sequenceNumber: UInt32) -> Verdict {
        if sequenceNumber == 0 { return .zero }
        if sequenceNumber > highestAccepted { return .newest }
        if UInt64(sequenceNumber) + UInt64(Self.size) <= UInt64(highestAccepted) { return .tooOld }
        let (block, bit) = Self.position(of: sequenceNumber)
        return blocks[block] & bit == 0 ? .reordered : .duplicate
    }

    /// Records `sequenceNumber` as received, after its ICV has verified. Returns the verdict: only
    /// ``Verdict/newest`` and ``Verdict/reordered`` changed the window.
    @inline(__always)
    public mutating func accept(_ sequenceNumber: UInt32) -> Verdict {
        let verdict = check(sequenceNumber)
        switch verdict {
        case .newest:
            let newBlock = UInt64(sequenceNumber) >> 6
            let currentBlock = UInt64(highestAccepted) >> 6
            // Clear the blocks the window slides over; never more than the whole ring.
            let advance = min(newBlock - currentBlock, UInt64(Self.blockCount))
            var step: UInt64 = 1
            while step <= advance {
                blocks[Int((currentBlock + step) & Self.blockMask)] = 0
                step += 1
            }
            highestAccepted = sequenceNumber
        case .reordered:
            break
        case .duplicate, .tooOld, .zero:
            return verdict
        }
        let (block, bit) = Self.position(of: sequenceNumber)
        blocks[block] |= bit
        return verdict
    }

    @inline(__always)
    private static func position(of sequenceNumber: UInt32) -> (block: Int, bit: UInt64) {
        let value = UInt64(sequenceNumber)
        return (Int((value >> 6) & blockMask), 1 << (value & 63))
    }
}
