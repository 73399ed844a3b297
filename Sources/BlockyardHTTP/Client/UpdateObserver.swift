import Foundation

/// What the update tells its user while it runs: phases with a size (for a progress bar),
/// progress within the phase, and warnings. All methods may be called from any thread.
public protocol UpdateObserver: Sendable {
    /// A phase begins: `chunking`, `downloading` or `building`, over `total` bytes.
    func begin(_ phase: String, total: Int)
    /// `bytes` more of the current phase are done.
    func advance(_ bytes: Int)
    /// The current phase is over.
    func end()
    /// Something the user should know that does not stop the update.
    func warning(_ message: String)
}

/// An observer that shows nothing.
public struct SilentUpdateObserver: UpdateObserver {
    public init() {}
    public func begin(_ phase: String, total: Int) {}
    public func advance(_ bytes: Int) {}
    public func end() {}
    public func warning(_ message: String) {}
}

/// Runs blocking work (hashing, chunking, building the file: seconds of CPU and disk) on a
/// thread of its own, so the concurrency pool and the HTTP event loop stay free.
func onThread<T: Sendable>(_ name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        let thread = Thread {
            continuation.resume(with: Result { try body() })
        }
        thread.name = name
        thread.stackSize = 4 << 20
        thread.start()
    }
}
