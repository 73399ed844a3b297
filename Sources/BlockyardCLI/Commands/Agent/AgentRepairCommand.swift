import ArgumentParser
import BlockyardAgent
import Foundation

struct AgentRepairCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair",
        abstract: "Rebuild a missing, broken or newer-format state.json from what is installed.",
        discussion: """
            Other commands refuse (exit 65) a state directory whose state.json is
            missing, broken or of a newer format, rather than taking it for a fresh
            install. repair hashes the file or bundle at install_path and records it as
            installed, with the version from --installed-version, else from the old
            state.json's record, a backup or the feed's channel file whose SHA-512s
            match; if none matches it changes nothing and exits 66. The staging id,
            failed versions and history are kept where the old file still has them
            (else a new staging id is drawn); the old file is kept as
            state.json.broken-TIME. A readable state.json is left alone.

            EXAMPLES
              blockyard agent repair --state st
              blockyard agent repair --state st --installed-version 1.0.0 --json
            """)

    @OptionGroup var options: AgentOptions

    @Option(help: ArgumentHelp("The version at install_path (default: found by its SHA-512).", valueName: "VERSION"))
    var installedVersion: String?

    func run() throws {
        let agent = try options.open()
        let version = installedVersion
        let result = try AgentConsole.runAsync { () async throws(AgentError) in try await agent.repair(installedVersion: version) }
        if options.json {
            Console.out(AgentReportJSON.encode(result))
            return
        }
        for warning in result.warnings { Console.warning(warning) }
        guard result.status == "repaired" else {
            Console.out("\(options.stateDirectory)/state.json is intact: nothing to repair (installed: \(result.installed ?? "nothing"))")
            return
        }
        Console.out("state.json rebuilt: installed \(result.installed ?? "nothing")\(result.versionSource.map { " (version from \($0))" } ?? "")")
        Console.out("  staging id  \(result.stagingID)\(result.stagingIDRecovered ? " (kept)" : " (new)")")
        Console.out("  history     \(result.historyRecovered) events kept; failed versions: \(result.failedVersions.isEmpty ? "none" : result.failedVersions.joined(separator: ", "))")
        if let kept = result.keptAs { Console.out("  old file    kept as \(kept)") }
    }
}
