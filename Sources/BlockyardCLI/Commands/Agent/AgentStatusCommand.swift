import ArgumentParser
import BlockyardAgent
import Foundation

struct AgentStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the installed, available and downloaded versions, progress, backups and errors.")

    @OptionGroup var options: AgentOptions

    func run() throws {
        let agent = try options.open()
        let status = try AgentConsole.run { () throws(AgentError) in try agent.status() }
        if options.json {
            Console.out(AgentReportJSON.encode(status))
            return
        }
        let config = agent.config
        let state = status.state
        Console.out("\(config.installPath) (\(config.kind.rawValue)), feed \(config.feed), channel \(config.updateChannel)")
        if let installed = state.installed {
            let size = installed.files.reduce(0) { $0 + $1.size }
            Console.out("  installed   \(installed.version) (\(AgentConsole.size(size)), since \(installed.installedAt))")
        } else {
            Console.out("  installed   nothing")
        }
        if let available = state.available {
            Console.out("  available   \(available.version): \(available.decision) — \(available.reason) (checked \(available.checkedAt))")
        } else {
            Console.out("  available   not checked\(config.lastCheck.map { " since \($0)" } ?? "")")
        }
        if let downloaded = state.downloaded {
            Console.out("  downloaded  \(downloaded.version): \(AgentConsole.size(downloaded.bytesFetched)) fetched, \(AgentConsole.size(downloaded.bytesReused)) reused; ready to install")
        }
        if let progress = status.progress {
            let percent = progress.bytesTotal > 0 ? Double(progress.bytesDone) * 100 / Double(progress.bytesTotal) : 0
            Console.out(String(format: "  download    %@ %@: %.1f %% of %@ (file %d/%d)", progress.version, progress.phase, percent,
                               AgentConsole.size(progress.bytesTotal), progress.filesDone + (progress.phase == "done" ? 0 : 1),
                               progress.filesTotal))
        } else if status.partialDownload {
            Console.out("  download    an interrupted download is kept; `agent download` resumes it")
        }
        if let pending = state.pending {
            Console.out("  pending     \(pending.operation) of \(pending.toVersion) was interrupted; the next operation finishes it")
        }
        let backups = status.backups.map(\.version)
        Console.out("  backups     \(backups.isEmpty ? "none" : backups.joined(separator: ", ")) (keeping \(config.backupCount))")
        if !config.skipVersions.isEmpty { Console.out("  skipping    \(config.skipVersions.joined(separator: ", "))") }
        if !state.failedVersions.isEmpty { Console.out("  failed      \(state.failedVersions.joined(separator: ", ")) (health check)") }
        if let error = state.lastError { Console.out("  last error  \(error.operation) at \(error.at): \(error.message)") }
        if status.busy { Console.out("  busy        an operation is running") }
    }
}
