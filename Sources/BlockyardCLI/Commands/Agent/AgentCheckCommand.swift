import ArgumentParser
import BlockyardAgent
import Foundation

struct AgentCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check the feed for a new version (semver, channel, staged rollout, skip list).")

    @OptionGroup var options: AgentOptions

    func run() throws {
        let agent = try options.open()
        let result = try AgentConsole.runAsync { () async throws(AgentError) in try await agent.check() }
        if options.json {
            Console.out(AgentReportJSON.encode(result))
            return
        }
        for warning in result.warnings { Console.warning(warning) }
        let a = result.available
        if result.updateAvailable {
            let size = a.files.reduce(0) { $0 + max(0, $1.size) }
            Console.out("update available: \(a.version) (\(AgentConsole.size(size))) — installed: \(result.installed ?? "nothing")")
            if let notes = a.releaseNotes, !notes.isEmpty { Console.out(notes.split(separator: "\n").prefix(5).map { "  " + $0 }.joined(separator: "\n")) }
        } else {
            Console.out("no update: \(a.reason)")
        }
    }
}
