import Foundation

/// A one-line progress bar on stderr, drawn only when stderr is a terminal and the work is
/// large enough to be worth watching. Thread-safe: ``advance(by:)`` may be called from any
/// thread; redraws are rate-limited to ten per second.
final class ProgressBar: @unchecked Sendable {
    private let label: String
    private let total: Int
    private let enabled: Bool
    private let lock = NSLock()
    private var done = 0
    private var lastDraw = Date.distantPast
    private let started = Date()

    /// - Parameter minimumTotal: below this many bytes no bar is shown.
    init(label: String, total: Int, minimumTotal: Int = 256 << 20) {
        self.label = label
        self.total = total
        enabled = Console.stderrIsTerminal && total >= minimumTotal
            && ProcessInfo.processInfo.environment["BLOCKYARD_NO_PROGRESS"] == nil
    }

    func advance(by bytes: Int) {
        guard enabled else { return }
        lock.lock()
        done += bytes
        let now = Date()
        let draw = now.timeIntervalSince(lastDraw) >= 0.1
        if draw { lastDraw = now }
        let current = done
        lock.unlock()
        if draw { render(current, now: now) }
    }

    func finish() {
        guard enabled else { return }
        Console.write(2, "\r\u{1B}[K")
    }

    private func render(_ current: Int, now: Date) {
        let fraction = total > 0 ? min(1, Double(current) / Double(total)) : 1
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let elapsed = max(0.001, now.timeIntervalSince(started))
        let rate = Double(current) / elapsed
        let name = label.count > 30 ? "…" + label.suffix(29) : label
        let line = String(format: "\r%@ %@ %3.0f%% %@/%@ %@/s\u{1B}[K", name, bar, fraction * 100,
                          HumanSize.format(current), HumanSize.format(total), HumanSize.format(Int(rate)))
        Console.write(2, line)
    }
}
