import ArgumentParser
import BlockyardAgent
import Foundation

struct AgentServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the agent's REST API on 127.0.0.1 and the periodic checker.",
        discussion: """
            GET  /api/updates/status, /api/updates/changelog,
                 /openapi.json (this API as OpenAPI 3.1, docs/openapi/agent.json)
            POST /api/updates/check, /download (background; progress in status),
                 /install, /rollback, /skip-version {"version":…}, /configure {KEY: VALUE}
            POST requests need `Authorization: Bearer TOKEN`, TOKEN being the first line
            of --token-file (at least 16 characters). Bodies: at most 64 KiB (413,
            and the connection is closed),
            Content-Type: application/json (415), a JSON object (400). /configure
            changes only auto_check, auto_download, auto_install, update_channel,
            skip_versions, backup_count and check_interval_s; any other key is
            refused (403) and nothing changes. Every second the checker looks
            whether check_interval_s has passed since last_check and, if auto_check is
            on, checks; then downloads (auto_download) and installs (auto_install).
            Stop with Ctrl-C or SIGTERM.
            """)

    @OptionGroup var options: AgentOptions

    @Option(help: "The port to listen on (0: any free port, printed at start).")
    var port = 8091

    @Option(help: ArgumentHelp("A file whose first line is the API token.", valueName: "FILE"))
    var tokenFile: String

    @Flag(help: "Do not run the periodic checker.")
    var noPeriodic = false

    func run() throws {
        let agent = try options.open()
        guard let text = try? String(contentsOfFile: tokenFile, encoding: .utf8) else {
            Console.error("\(tokenFile): cannot read the token file")
            throw ExitStatus.noInput
        }
        let token = text.split(whereSeparator: \.isNewline).first.map(String.init)?.trimmingCharacters(in: .whitespaces) ?? ""
        let server = try AgentConsole.run { () throws(AgentError) in try AgentServer(agent: agent, token: token, port: port) }
        let json = options.json
        let periodic = !noPeriodic
        let state = options.stateDirectory
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var failure: Error?
        Task.detached {
            do {
                try await server.run(handleSignals: true, periodic: periodic) { host, port in
                    let url = "http://\(host):\(port)/api/updates/status"
                    if json {
                        Console.out("{\"url\": \"\(url)\", \"port\": \(port), \"state\": \(Console.json(state))}")
                    } else {
                        Console.out("agent API for \(state) at \(url)")
                    }
                }
            } catch {
                failure = error
            }
            done.signal()
        }
        done.wait()
        if let failure {
            Console.error("cannot serve on 127.0.0.1:\(port): \(failure)")
            throw ExitStatus.ioError
        }
    }
}
