import Foundation
import Prometheus

/// What `blockyard serve` counts, exposed at `GET /metrics` in the Prometheus text format.
///
/// | metric | labels | meaning |
/// |---|---|---|
/// | `blockyard_http_requests_total` | `method`, `status` | requests answered |
/// | `blockyard_http_response_body_bytes_total` | `kind` | body bytes sent (artifact, blockmap, channel, metadata, page, api, metrics, error) |
/// | `blockyard_http_ranges_per_request` | | histogram of ranges per satisfiable Range request |
/// | `blockyard_http_rejected_requests_total` | `reason` | 4xx for hostile or malformed input (path, range, method, header) |
/// | `blockyard_downloads_total` | `version`, `kind` | `full`: 200 GETs of an artifact; `blockmap`: GETs of its `.blockmap` (each differential update fetches the new one) |
/// | `blockyard_version_bytes_total` | `version` | artifact body bytes sent per version (full and ranges) |
/// | `blockyard_staged_rollout_responses_total` | `decision` | channel files answered with staging: `in`, `out` (previous release served), `out_no_previous`, `invalid_id` |
///
/// Label values come from fixed sets or from versions present in the release directory, so
/// hostile requests cannot grow the number of series.
final class ServerMetrics: @unchecked Sendable {
    let registry = PrometheusCollectorRegistry()

    private let rangesPerRequest: ValueHistogram
    /// Counters by name and label values: the registry validates names and help texts on
    /// every lookup, which costs more than the request it counts.
    private let lock = NSLock()
    private var counters: [String: Counter] = [:]

    init() {
        rangesPerRequest = registry.makeValueHistogram(
            descriptor: MetricNameDescriptor(namespace: "blockyard", subsystem: "http", metricName: "ranges_per_request",
                                             unitName: "", helpText: "Ranges asked for by each satisfiable Range request."),
            buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000])
    }

    func request(method: String, status: Int) {
        counter("http", "requests", "Requests answered, by method and status.",
                [("method", method), ("status", String(status))]).increment()
    }

    func bodyBytes(_ count: Int, kind: String) {
        guard count > 0 else { return }
        counter("http", "response_body_bytes", "Response body bytes sent, by kind of resource.",
                [("kind", kind)]).increment(by: Int64(count))
    }

    func ranges(_ count: Int) {
        rangesPerRequest.record(Double(count))
    }

    func rejected(_ reason: String) {
        counter("http", "rejected_requests", "Requests rejected as malformed or hostile, by reason.",
                [("reason", reason)]).increment()
    }

    func download(version: String, kind: String) {
        counter("", "downloads", "Full downloads (kind=full) and blockmap fetches (kind=blockmap) per version.",
                [("version", version), ("kind", kind)]).increment()
    }

    func versionBytes(_ count: Int, version: String) {
        guard count > 0 else { return }
        counter("", "version_bytes", "Artifact body bytes sent per version.", [("version", version)])
            .increment(by: Int64(count))
    }

    func staging(_ decision: String) {
        counter("", "staged_rollout_responses", "Channel files answered under server-side staging, by decision.",
                [("decision", decision)]).increment()
    }

    /// The Prometheus text exposition.
    func render() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }

    private func counter(_ subsystem: String, _ name: String, _ help: String, _ labels: [(String, String)]) -> Counter {
        var key = subsystem + "_" + name
        for (label, value) in labels { key += "\u{0}" + label + "=" + value }
        if let cached = lock.withLock({ counters[key] }) { return cached }
        let counter = registry.makeCounter(
            descriptor: MetricNameDescriptor(namespace: "blockyard", subsystem: subsystem, metricName: name,
                                             unitName: "total", helpText: help),
            labels: labels)
        lock.withLock { counters[key] = counter }
        return counter
    }
}
