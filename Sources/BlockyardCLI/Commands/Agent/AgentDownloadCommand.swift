import ArgumentParser
import BlockyardAgent
import Foundation

struct AgentDownloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "download",
        abstract: "Download the offered version differentially and verify it (resumable).",
        discussion: """
            Checks the feed again, then downloads the offered version into the state
            directory: only the chunks the installed file(s) do not have are fetched;
            bundle files whose SHA-512 did not change are not downloaded at all. An
            interrupted download (even kill -9) resumes where it stopped. Nothing is
            installed: run `agent install` next.
            """)

    @OptionGroup var options: AgentOptions

    func run() throws {
        let agent = try options.open()
        let bar = AgentProgressBar()
        let result = try AgentConsole.runAsync { () async throws(AgentError) in try await agent.download(observer: bar) }
        bar.finish()
        if options.json {
            Console.out(AgentReportJSON.encode(result))
            return
        }
        switch result.status {
        case "downloaded":
            let total = result.files.reduce(0) { $0 + $1.size }
            Console.out("downloaded \(result.version): \(AgentConsole.size(result.bytesFetched)) fetched for \(AgentConsole.size(total)) (\(AgentConsole.size(result.bytesReused)) reused) in \(result.requests) requests, \(String(format: "%.1f", result.seconds)) s; verified")
        case "already-downloaded":
            Console.out("\(result.version) is already downloaded and verified")
        default:
            Console.out("nothing to download: \(result.reason ?? result.status)")
        }
    }
}

/// A progress bar on stderr (only on a terminal) fed by the agent's progress reports.
final class AgentProgressBar: AgentProgressObserver, @unchecked Sendable {
    private let lock = NSLock()
    private var bar: ProgressBar?
    private var done = 0

    func progress(_ progress: DownloadProgress) {
        lock.withLock {
            if bar == nil { bar = ProgressBar(label: "download \(progress.version)", total: progress.bytesTotal, minimumTotal: 16 << 20) }
            if progress.bytesDone > done {
                bar?.advance(by: progress.bytesDone - done)
                done = progress.bytesDone
            }
        }
    }

    func finish() { lock.withLock { bar?.finish() } }
}
