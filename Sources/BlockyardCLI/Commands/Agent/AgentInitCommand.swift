import ArgumentParser
import BlockyardAgent
import Foundation

struct AgentInitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create the agent's state directory and config.json.",
        discussion: """
            Records what to update (--install-path, a file or, with --kind bundle, a
            directory whose files are the release's files) and where from (--feed). An
            existing install path is adopted as --installed-version (its files are
            hashed); without one, the first `agent download` + `agent install`
            installs the latest version. Any config.json key can be given with --set.
            The install path must be in an existing directory, must not be / or a
            symbolic link, must be a file (kind file) or a directory (kind bundle) if
            it exists, and must lie outside the state directory (`agent configure`
            checks a new one the same way).

            EXAMPLES
              blockyard agent init --state st --feed http://127.0.0.1:8080/ \\
                  --install-path MyApp.AppImage --installed-version 1.0.0
              blockyard agent init --state st --feed https://cdn.example.com/model/ \\
                  --install-path models/llm --kind bundle --set update_channel=beta
            """)

    @OptionGroup var options: AgentOptions

    @Option(help: ArgumentHelp("The feed URL (electron-builder generic provider url).", valueName: "URL"))
    var feed: String

    @Option(help: ArgumentHelp("The installed file or bundle directory (relative: to the current directory).", valueName: "PATH"))
    var installPath: String

    @Option(help: "What is installed: a file, or a bundle directory.")
    var kind: String = "file"

    @Option(help: ArgumentHelp("The version at --install-path now.", valueName: "VERSION"))
    var installedVersion: String?

    @Option(help: ArgumentHelp("This install's staging id (a UUID; default: a new random one).", valueName: "UUID"))
    var stagingID: String?

    @Option(name: .customLong("set"), help: ArgumentHelp("Another config.json value.", valueName: "KEY=VALUE"))
    var assignments: [String] = []

    func run() throws {
        let path = URL(fileURLWithPath: installPath).standardizedFileURL.path
        let agent = try AgentConsole.run { () throws(AgentError) -> Agent in
            var config = AgentConfig(feed: "", installPath: path)
            try config.set("feed", to: feed)
            try config.set("kind", to: kind)
            for assignment in assignments { try config.configure(assignment) }
            return try Agent.initialize(stateDirectory: options.stateDirectory, config: config,
                                        installedVersion: installedVersion, stagingID: stagingID)
        }
        let status = try AgentConsole.run { () throws(AgentError) in try agent.status() }
        if options.json {
            Console.out(AgentReportJSON.encode(status))
            return
        }
        Console.out("\(options.stateDirectory): agent for \(path) (\(agent.config.kind.rawValue)) from \(agent.config.feed)")
        Console.out("  installed  \(status.state.installed?.version ?? "nothing yet")")
        Console.out("  channel    \(agent.config.updateChannel) (\(agent.config.channel)), staging id \(status.state.stagingID)")
    }
}
