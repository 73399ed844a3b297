import Foundation

/// Runs `body` on a new thread (1 MiB stack, named for debuggers); ``join()`` waits for it.
/// The pipelines of the hasher, the blockmap generator and the store use it.
public final class WorkerThread: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)

    public init(name: String, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread { [done] in
            body()
            done.signal()
        }
        thread.name = name
        thread.stackSize = 1 << 20
        thread.start()
    }

    public func join() { done.wait() }
}
