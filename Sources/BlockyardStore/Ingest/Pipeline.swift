import Foundation

/// A blocking FIFO between two pipeline threads. ``close()`` ends it after the items already
/// sent; ``cancel()`` ends it at once, dropping them.
final class Channel<T>: @unchecked Sendable {
    private var items: [T] = []
    private var head = 0
    private var closed = false
    private let condition = NSCondition()

    /// Queues `item`; false when the channel was closed or cancelled.
    @discardableResult
    func send(_ item: T) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !closed else { return false }
        items.append(item)
        condition.signal()
        return true
    }

    /// The next item, waiting for one; nil once the channel is closed and empty.
    func receive() -> T? {
        condition.lock()
        defer { condition.unlock() }
        while head == items.count && !closed { condition.wait() }
        guard head < items.count else { return nil }
        let item = items[head]
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        }
        return item
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    func cancel() {
        condition.lock()
        closed = true
        items.removeAll()
        head = 0
        condition.broadcast()
        condition.unlock()
    }
}

/// The first error of a pipeline; setting it cancels the other stages.
final class FailureBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: (any Error)?
    private var onFailure: [() -> Void] = []

    func whenFailing(_ action: @escaping () -> Void) { lock.withLock { onFailure.append(action) } }

    func fail(_ error: any Error) {
        let actions: [() -> Void] = lock.withLock {
            guard stored == nil else { return [] }
            stored = error
            return onFailure
        }
        actions.forEach { $0() }
    }

    var error: (any Error)? { lock.withLock { stored } }
}

/// Thrown by a stage that stops because another stage failed (never reported).
struct PipelineCancelled: Error {}
