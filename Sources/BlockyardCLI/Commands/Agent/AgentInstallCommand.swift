import ArgumentParser
import BlockyardAgent
import Foundation

struct AgentInstallCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install",
        abstract: "Install the downloaded version: verify, back up, swap atomically, health-check.",
        discussion: """
            Verifies the downloaded files' SHA-512 on disk, keeps the installed version
            as a backup (backup_count are kept), puts the new file or directory in place
            with one atomic rename (directories: an atomic exchange), then runs the
            health command (--health-cmd, or health_cmd in config.json) with
            BLOCKYARD_VERSION, BLOCKYARD_PREVIOUS_VERSION and BLOCKYARD_INSTALL_PATH set.
            If it fails, the backup is restored and the command exits 1.
            """)

    @OptionGroup var options: AgentOptions

    @Option(help: ArgumentHelp("Shell command that must succeed after the install.", valueName: "CMD"))
    var healthCmd: String?

    func run() throws {
        let agent = try options.open()
        let result = try AgentConsole.run { () throws(AgentError) in try agent.install(healthCommand: healthCmd) }
        if options.json {
            Console.out(AgentReportJSON.encode(result))
            return
        }
        Console.out("installed \(result.version) (was \(result.previousVersion ?? "nothing"))\(result.healthCheck.map { "; health check \($0)" } ?? "")")
        if let backup = result.backup { Console.out("  backup of \(result.previousVersion ?? "?") kept at \(backup)") }
        if !result.prunedBackups.isEmpty { Console.out("  removed old backups: \(result.prunedBackups.joined(separator: ", "))") }
    }
}

struct AgentRollbackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollback",
        abstract: "Restore the newest backup atomically.")

    @OptionGroup var options: AgentOptions

    func run() throws {
        let agent = try options.open()
        let result = try AgentConsole.run { () throws(AgentError) in try agent.rollback() }
        if options.json {
            Console.out(AgentReportJSON.encode(result))
            return
        }
        Console.out("rolled back to \(result.version) (was \(result.previousVersion ?? "nothing"))")
    }
}

struct AgentSkipCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "skip",
        abstract: "Never offer VERSION (adds it to skip_versions).")

    @OptionGroup var options: AgentOptions

    @Argument(help: "The version to skip.")
    var version: String

    func run() throws {
        let agent = try options.open()
        let config = try AgentConsole.run { () throws(AgentError) in try agent.skip(version) }
        if options.json {
            Console.out(AgentReportJSON.encode(ConfigJSON(config: config)))
            return
        }
        Console.out("skipping \(config.skipVersions.joined(separator: ", "))")
    }
}

struct AgentConfigureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "configure",
        abstract: "Change config.json values (validated; all or nothing).",
        discussion: """
            Keys: auto_check, auto_download, auto_install (true/false), update_channel
            (stable, beta, alpha), skip_versions (JSON list or comma-separated),
            backup_count, check_interval_s (whole numbers), feed (URL), public_key (PEM,
            base64 or a file), install_path, kind (file/bundle), platform (win, mac,
            linux[-arch]), file, health_cmd, allow_downgrade, last_check. VALUE is read
            as JSON when it is JSON, else as text. Without assignments, prints the
            configuration.

            install_path is checked as `agent init` checks it: an absolute, normalized
            path (not /), in an existing directory, not a symbolic link, a file for kind
            file and a directory for kind bundle, outside the state directory. While a
            version is installed, the new path must hold it (moved there); with nothing
            installed, it must not exist yet.

            Only this command changes feed, public_key, install_path, kind, platform,
            file, health_cmd, allow_downgrade and last_check: the REST API (`agent
            serve`) refuses them (403).

            EXAMPLES
              blockyard agent configure --state st auto_download=true update_channel=beta
              blockyard agent configure --state st 'skip_versions=["1.2.0"]' health_cmd=null
            """)

    @OptionGroup var options: AgentOptions

    @Argument(help: ArgumentHelp("Assignments.", valueName: "KEY=VALUE"))
    var assignments: [String] = []

    func run() throws {
        let agent = try options.open()
        let config = assignments.isEmpty ? agent.config : try AgentConsole.run { () throws(AgentError) in try agent.configure(assignments) }
        if options.json {
            Console.out(AgentReportJSON.encode(ConfigJSON(config: config)))
            return
        }
        Console.out(String(decoding: config.encoded(), as: UTF8.self), terminator: "")
    }
}

struct AgentChangelogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "changelog",
        abstract: "Release notes of the versions between the installed and the available one.")

    @OptionGroup var options: AgentOptions

    func run() throws {
        let agent = try options.open()
        let changelog = try AgentConsole.runAsync { () async throws(AgentError) in try await agent.changelog() }
        if options.json {
            Console.out(AgentReportJSON.encode(changelog))
            return
        }
        if changelog.entries.isEmpty {
            Console.out("no release notes between \(changelog.installed ?? "nothing") and \(changelog.available)")
        }
        for entry in changelog.entries {
            Console.out("## \(entry.version)\(entry.name.map { " — \($0)" } ?? "")\(entry.date.map { " (\($0))" } ?? "")")
            Console.out(entry.notes.isEmpty ? "(no notes)" : entry.notes)
            Console.out("")
        }
    }
}
