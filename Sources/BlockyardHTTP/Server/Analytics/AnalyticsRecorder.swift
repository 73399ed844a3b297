import Foundation
import Synchronization

/// The running side of `serve --analytics`: requests are classified as they are answered
/// (one dictionary lookup under a lock), their counts collected in memory, and written to
/// the ``AnalyticsStore`` in one batch every ``AnalyticsConfiguration/flushInterval`` on a
/// queue of its own — never on the request path.
final class AnalyticsRecorder: @unchecked Sendable {
    let configuration: AnalyticsConfiguration
    let store: AnalyticsStore
    let metrics: AnalyticsMetrics
    let keys = ClientKeyDeriver()
    private let lock = NSLock()
    private var classifier: UpdateEventClassifier
    private var pending = AnalyticsTally()
    private let queue = DispatchQueue(label: "blockyard.analytics")
    private var timer: DispatchSourceTimer?
    private var prunedDay = Int.min

    init(configuration: AnalyticsConfiguration, store: AnalyticsStore, metrics: AnalyticsMetrics) {
        self.configuration = configuration
        self.metrics = metrics
        self.store = store
        classifier = UpdateEventClassifier(window: configuration.window, maxClients: configuration.maxClients)
        pruneIfDue()
        let timer = DispatchSource.makeTimerSource(queue: queue)
        let interval = max(0.05, configuration.flushInterval)
        timer.schedule(deadline: .now() + interval, repeating: interval)
        timer.setEventHandler { [weak self] in self?.writePending() }
        timer.resume()
        self.timer = timer
    }

    deinit { timer?.cancel() }

    /// Classifies one request; returns whether its bytes count for `request.version`.
    func observe(_ request: UpdateRequest) -> Bool {
        let date = AnalyticsDate(seconds: request.time)
        let (events, counted): ([UpdateEvent], Bool) = lock.withLock {
            let result = classifier.observe(request)
            for event in result.events { pending.record(event, on: date) }
            return result
        }
        for event in events { metrics.record(event) }
        return counted
    }

    /// Counts artifact bytes sent for a counted download.
    func addBytes(_ count: Int, version: String) {
        guard count > 0 else { return }
        let date = AnalyticsDate(seconds: configuration.clock())
        lock.withLock { pending.addBytes(count, version: version, on: date) }
        metrics.bytesServed(count, version: version)
    }

    /// Clients remembered now.
    var clientCount: Int { lock.withLock { classifier.clientCount } }

    /// Writes what is pending now (blocking; not for the cooperative pool).
    func flush() {
        queue.sync { writePending() }
    }

    /// Stops the timer and writes what is pending.
    func close() {
        timer?.cancel()
        flush()
    }

    private func writePending() {
        let batch: AnalyticsTally = lock.withLock {
            defer { pending = AnalyticsTally() }
            return pending
        }
        do {
            try store.add(batch)
        } catch {
            // Kept for the next batch: nothing counted is dropped by a full disk.
            lock.withLock { pending.merge(batch) }
            metrics.writeFailed()
        }
        pruneIfDue()
    }

    private func pruneIfDue() {
        guard configuration.retentionDays > 0 else { return }
        let today = AnalyticsDate(seconds: configuration.clock())
        guard today.day != prunedDay else { return }
        prunedDay = today.day
        _ = try? store.prune(before: AnalyticsDate(day: today.day - configuration.retentionDays + 1))
    }
}

/// The artifact bytes of one response that belong to a counted download, added to the
/// recorder once the body has been sent (or the client went away).
final class AnalyticsBytes: Sendable {
    private let recorder: AnalyticsRecorder
    private let version: String
    private let total = Atomic<Int>(0)

    init(recorder: AnalyticsRecorder, version: String) {
        self.recorder = recorder
        self.version = version
    }

    func add(_ count: Int) { total.add(count, ordering: .relaxed) }

    func finish() { recorder.addBytes(total.exchange(0, ordering: .relaxed), version: version) }
}

/// The peer address of the request being answered (set by the responder for the request's
/// task): part of the client key, never stored.
enum AnalyticsPeer {
    @TaskLocal static var address: String?
}
