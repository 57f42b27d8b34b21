import Synchronization
public import TernOS

/// A small, bounded queue from one thread to another for rare messages (Mobility Headers, not user
/// data), with an eventfd the receiving thread polls beside its sockets. Posting takes a lock; the data
/// path never posts.
public final class Mailbox<Element: Sendable>: @unchecked Sendable {
    /// Messages waiting at most: signalling is a handful a second; a peer that floods past this loses
    /// the excess (counted by the caller through `post`'s result) instead of growing memory.
    public static var capacity: Int { 64 }

    public let notifier: Notifier
    private let items = Mutex<[Element]>([])

    public init() throws(SystemCallError) {
        notifier = try Notifier()
    }

    /// Queues `element` and wakes the receiver. False when the mailbox is full and it was dropped.
    @discardableResult
    public func post(_ element: Element) -> Bool {
        let accepted = items.withLock { items in
            guard items.count < Self.capacity else { return false }
            items.append(element)
            return true
        }
        if accepted { notifier.signal() }
        return accepted
    }

    /// Everything queued so far, oldest first; clears the notifier.
    public func take() -> [Element] {
        notifier.drain()
        return items.withLock { items in
            let taken = items
            items.removeAll(keepingCapacity: true)
            return taken
        }
    }
}
