import Foundation
import Prometheus

/// The analytics counters in `/metrics` (since the process started), in the server's
/// registry. Labels are versions of the release directory, `unknown` or `other`, and fixed
/// event names, so their number is bounded.
///
/// | metric | labels | meaning |
/// |---|---|---|
/// | `blockyard_update_events_total` | `version`, `event` | `full_download`, `differential`, `fallback` |
/// | `blockyard_update_transitions_total` | `from`, `to`, `result` | differential updates (`result="differential"`) and their fallbacks (`result="fallback"`) |
/// | `blockyard_update_bytes_served_total` | `version` | artifact bytes sent for counted downloads |
/// | `blockyard_update_full_equivalent_bytes_total` | `version` | what those would have cost as full downloads |
/// | `blockyard_update_store_write_failures_total` | | batches the store could not take (kept for the next one) |
final class AnalyticsMetrics: @unchecked Sendable {
    private let registry: PrometheusCollectorRegistry
    private let lock = NSLock()
    private var counters: [String: Counter] = [:]

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    func record(_ event: UpdateEvent) {
        switch event {
        case .fullDownload(let version, let size):
            counter("events", "Update events by version: full_download, differential, fallback.",
                    [("version", version), ("event", "full_download")]).increment()
            fullEquivalent(size, version: version)
        case .differential(let from, let to, let size):
            counter("events", "Update events by version: full_download, differential, fallback.",
                    [("version", to), ("event", "differential")]).increment()
            counter("transitions", "Differential updates by installed and new version, and their fallbacks.",
                    [("from", from), ("to", to), ("result", "differential")]).increment()
            fullEquivalent(size, version: to)
        case .fallback(let from, let to):
            counter("events", "Update events by version: full_download, differential, fallback.",
                    [("version", to), ("event", "fallback")]).increment()
            counter("transitions", "Differential updates by installed and new version, and their fallbacks.",
                    [("from", from), ("to", to), ("result", "fallback")]).increment()
        }
    }

    func bytesServed(_ count: Int, version: String) {
        guard count > 0 else { return }
        counter("bytes_served", "Artifact bytes sent for counted downloads (full, differential, fallback).",
                [("version", version)]).increment(by: Int64(count))
    }

    func writeFailed() {
        counter("store_write_failures", "Batches of counts the analytics store could not take (kept for the next batch).", []).increment()
    }

    private func fullEquivalent(_ size: Int, version: String) {
        guard size > 0 else { return }
        counter("full_equivalent_bytes", "Bytes the counted downloads would have cost as full downloads.",
                [("version", version)]).increment(by: Int64(size))
    }

    private func counter(_ name: String, _ help: String, _ labels: [(String, String)]) -> Counter {
        var key = name
        for (label, value) in labels { key += "\u{0}" + label + "=" + value }
        return lock.withLock {
            if let cached = counters[key] { return cached }
            let counter = registry.makeCounter(
                descriptor: MetricNameDescriptor(namespace: "blockyard", subsystem: "update", metricName: name,
                                                 unitName: "total", helpText: help),
                labels: labels)
            counters[key] = counter
            return counter
        }
    }
}
