import ArgumentParser
import BlockyardAgent
import Foundation

/// `blockyard agent …`: the updater agent.
struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Keep an installed file or bundle current: check, download, install, roll back.",
        discussion: """
            The agent keeps everything in a state directory (--state, default
            $BLOCKYARD_AGENT_STATE or ./.blockyard/agent): config.json, state.json
            (installed, available and downloaded versions, history), downloads/ and
            backups/. Downloads are differential (the installed file is the seed) and
            resumable; installs verify SHA-512 on disk, keep a backup, swap atomically
            and roll back when --health-cmd fails. `agent serve` offers the same over a
            REST API on 127.0.0.1. See docs/AGENT.md.

            EXAMPLES
              blockyard agent init --state st --feed http://127.0.0.1:8080/ \\
                  --install-path app/MyApp.AppImage --installed-version 1.0.0
              blockyard agent check --state st
              blockyard agent download --state st && blockyard agent install --state st
              blockyard agent rollback --state st
              blockyard agent repair --state st
              blockyard agent serve --state st --port 8091 --token-file token

            EXIT CODES
              0 success (also: nothing to do), 1 a check failed (SHA-512, signature,
              health check), 64 usage or bad configuration value, 65 bad metadata
              or a broken config.json, or a missing, broken or newer-format
              state.json (`agent repair` rebuilds it), 66 nothing to install/roll
              back or missing input, 73 cannot create, 74 network or disk error,
              75 another agent operation is running
            """,
        subcommands: [AgentInitCommand.self, AgentStatusCommand.self, AgentCheckCommand.self, AgentDownloadCommand.self,
                      AgentInstallCommand.self, AgentRollbackCommand.self, AgentSkipCommand.self,
                      AgentConfigureCommand.self, AgentChangelogCommand.self, AgentRepairCommand.self, AgentServeCommand.self])
}

/// Options every agent subcommand takes.
struct AgentOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The agent's state directory (default: $BLOCKYARD_AGENT_STATE or ./.blockyard/agent).",
                               valueName: "DIR"))
    var state: String?

    @Flag(help: "Print the result as JSON.")
    var json = false

    var stateDirectory: String {
        state ?? ProcessInfo.processInfo.environment["BLOCKYARD_AGENT_STATE"] ?? ".blockyard/agent"
    }

    func open() throws -> Agent {
        try AgentConsole.run { () throws(AgentError) in try Agent(stateDirectory: stateDirectory) }
    }
}

enum AgentConsole {
    /// Reports `error` on stderr and returns its exit code.
    static func fail(_ error: AgentError) -> ExitCode {
        Console.error(error.message)
        return ExitStatus.code(for: error.kind)
    }

    static func run<T>(_ body: () throws(AgentError) -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw fail(error)
        }
    }

    static func runAsync<T: Sendable>(_ body: @escaping @Sendable () async throws(AgentError) -> T) throws -> T {
        do {
            return try blockOn(body)
        } catch {
            throw fail(error)
        }
    }

    static func size(_ bytes: Int) -> String { HumanSize.format(bytes) }
}
