import BlockyardTestSupport
import Foundation
import Testing

/// The OpenAPI documents of `blockyard serve`'s releases API and `agent serve`'s REST API
/// (docs/openapi/): each server serves its document at `/openapi.json` byte for byte as checked
/// in, and schemathesis, driven by the documents, finds no 5xx, no answer outside its schema,
/// no undocumented status or content type, and no POST of the agent that works without its token.
@Suite("OpenAPI: documents and schemathesis", .serialized)
struct OpenAPITests {
    static let token = "openapi-token-0123456789"

    /// docs/openapi/NAME.json in this checkout.
    static func document(_ name: String) -> URL {
        SharedVectors.repositoryRoot.appendingPathComponent("docs/openapi/\(name).json")
    }

    /// A feed with two releases served by `blockyard serve`, and `agent serve` updating from it.
    static func servers(_ label: String) throws -> (feed: AgentFeed, agent: ListeningProcess, state: String) {
        let feed = try AgentFeed(label)
        let v1 = AgentVersions.base(200_000)
        try feed.publish("1.0.0", [("app.bin", v1)])
        try feed.publish("1.1.0", [("app.bin", AgentVersions.edit(v1, at: 50_000, count: 4_000, seed: 41))])
        try feed.serve()
        let installPath = try feed.write("app/app.bin", v1)
        let state = feed.dir.path("state")
        _ = try feed.agentJSON("init", state, ["--feed", feed.feedURL, "--install-path", installPath, "--installed-version", "1.0.0",
                                               "--set", "auto_check=false"])
        let tokenFile = try feed.write("token", Array("\(token)\n".utf8))
        let agent = try AgentServeTests.agentServe(["--state", state, "--token-file", tokenFile, "--no-periodic"])
        return (feed, agent, state)
    }

    @Test func servedDocumentsAreTheCheckedInFiles() throws {
        let (feed, agent, _) = try Self.servers("openapi-bytes")
        for (name, port) in [("releases", feed.server!.port), ("agent", agent.port)] {
            let expected = try Data(contentsOf: Self.document(name))
            let object = try #require(try JSONSerialization.jsonObject(with: expected) as? [String: Any], "\(name).json is not a JSON object")
            #expect(object["openapi"] as? String == "3.1.0")
            let answer = try ServeCommandTests.get("http://127.0.0.1:\(port)/openapi.json")
            #expect(answer.status == 200, "\(name)")
            #expect(answer.headers["content-type"]?.hasPrefix("application/json") == true, "\(name)")
            #expect(Data(answer.body) == expected, "\(name): /openapi.json differs from docs/openapi/\(name).json (run python3 tools/gen-openapi.py)")
        }
        // Only GET (and HEAD) read it.
        let post = try AgentRawHTTP.exchange(port: agent.port, AgentRawHTTP.request("POST", "/openapi.json", port: agent.port, token: Self.token))
        #expect(post.status == 405)
        #expect(post.head.lowercased().contains("allow: get"))
    }

    /// `schemathesis` on PATH, else in the scripts directory of `python3` (where pip puts it),
    /// else nil.
    static let schemathesis: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        var directories = path.split(separator: ":").map(String.init)
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        python.arguments = ["python3", "-c", "import sysconfig; print(sysconfig.get_path('scripts'))"]
        let out = Pipe()
        python.standardOutput = out
        python.standardError = FileHandle.nullDevice
        if (try? python.run()) != nil {
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            python.waitUntilExit()
            directories.append(text.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return directories.map { "\($0)/schemathesis" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()
    static let inCI = ProcessInfo.processInfo.environment["CI"] == "true"

    /// Runs schemathesis against both live servers at once. Checks: all of schemathesis's but
    /// `positive_data_acceptance` (valid requests may rightly get 404 for an id that names no
    /// release, or 409/422 from an agent with nothing downloaded or no backup) and the stateful
    /// resource checks (nothing here is created or deleted). `ignored_auth` sends the agent's
    /// POSTs without the token: they must get 401. Examples per operation:
    /// `$BLOCKYARD_SCHEMATHESIS_EXAMPLES` (default 8, about 30 s here on two busy cores).
    @Test(.enabled(if: schemathesis != nil || inCI,
                   "schemathesis is not installed (tools/setup installs it: pip install schemathesis==4.32.5)"))
    func schemathesisFindsNoFault() throws {
        let executable = try #require(Self.schemathesis, "schemathesis is not installed, and CI=true: tools/setup must install it")
        let (feed, agent, state) = try Self.servers("openapi-schemathesis")
        let examples = ProcessInfo.processInfo.environment["BLOCKYARD_SCHEMATHESIS_EXAMPLES"] ?? "8"
        let work = try TemporaryDirectory("openapi-hypothesis")
        func run(_ name: String, port: Int, headers: [String]) throws -> (process: Process, output: URL) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = ["run", Self.document(name).path, "--url", "http://127.0.0.1:\(port)",
                                 "--max-examples", examples, "--seed", "18", "--workers", "1", "--request-timeout", "20",
                                 "--checks", "all", "--exclude-checks", "positive_data_acceptance,use_after_free,ensure_resource_availability",
                                 "--no-color"] + headers.flatMap { ["-H", $0] }
            process.currentDirectoryURL = work.url
            let output = work.url.appendingPathComponent("\(name).txt")
            FileManager.default.createFile(atPath: output.path, contents: nil)
            let handle = try FileHandle(forWritingTo: output)
            process.standardOutput = handle
            process.standardError = handle
            var environment = ProcessInfo.processInfo.environment
            environment["SCHEMATHESIS_HOOKS"] = nil
            process.environment = environment
            try process.run()
            return (process, output)
        }
        let start = Date()
        let runs = [("releases", try run("releases", port: feed.server!.port, headers: [])),
                    ("agent", try run("agent", port: agent.port, headers: ["Authorization: Bearer \(Self.token)"]))]
        for (name, run) in runs {
            run.process.waitUntilExit()
            let text = (try? String(contentsOf: run.output, encoding: .utf8)) ?? ""
            #expect(run.process.terminationStatus == 0, "schemathesis found faults in the \(name) API:\n\(text.suffix(6000))")
            print("schemathesis \(name): \(text.split(separator: "\n").last ?? "")")
        }
        print("schemathesis: both APIs in \(Int(Date().timeIntervalSince(start))) s")
        // The agent's state survived whatever it was sent.
        #expect(try feed.agent("status", state, ["--json"]).status == 0)
    }
}
