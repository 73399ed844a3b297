import BlockyardTestSupport
import Foundation
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `blockyard agent serve`: the REST API with and without the token, background download with
/// progress in status, and the periodic checker.
@Suite("agent serve")
struct AgentServeTests {
    /// A running `blockyard agent serve --port 0 --json ARGUMENTS…`.
    static func agentServe(_ arguments: [String]) throws -> ListeningProcess {
        try ListeningProcess(["agent", "serve"], arguments)
    }

    static func call(_ method: String, _ url: String, token: String? = nil, body: String? = nil) throws -> (status: Int, json: Any?) {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        request.timeoutInterval = 60
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let body {
            request.httpBody = Data(body.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        nonisolated(unsafe) var result: (Int, Any?)?
        nonisolated(unsafe) var failure: Error?
        let done = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: request) { data, response, error in
            if let http = response as? HTTPURLResponse {
                result = (http.statusCode, data.flatMap { try? JSONSerialization.jsonObject(with: $0) })
            }
            failure = error
            done.signal()
        }.resume()
        done.wait()
        if let failure { throw failure }
        return try #require(result)
    }

    @Test func restAPI() throws {
        let feed = try AgentFeed("agent-api")
        let v1 = AgentVersions.base(1_000_000)
        let v2 = AgentVersions.edit(v1, at: 500_000, count: 10_000, seed: 12)
        try feed.publish("1.0.0", [("app.bin", v1)])
        try feed.publish("1.1.0", [("app.bin", v2)])
        try feed.serve()
        let installPath = try feed.write("app/app.bin", v1)
        let state = feed.dir.path("state")
        _ = try feed.agentJSON("init", state, ["--feed", feed.feedURL, "--install-path", installPath, "--installed-version", "1.0.0",
                                               "--set", "auto_check=false"])
        let token = "s3cret-token-0123456789"
        let tokenFile = try feed.write("token", Array("\(token)\n".utf8))
        let agent = try Self.agentServe(["--state", state, "--token-file", tokenFile])
        let base = "http://127.0.0.1:\(agent.port)/api/updates"

        let status = try Self.call("GET", "\(base)/status")
        #expect(status.status == 200)
        #expect(((status.json as? [String: Any])?["installed"] as? [String: Any])?["version"] as? String == "1.0.0")
        // Mutating calls need the token.
        #expect(try Self.call("POST", "\(base)/check").status == 401)
        #expect(try Self.call("POST", "\(base)/check", token: "wrong-token-0123456789").status == 401)
        #expect(try Self.call("POST", "\(base)/install", token: token.uppercased()).status == 401)
        #expect(try Self.call("GET", "\(base)/check").status == 405)
        #expect(try Self.call("GET", "\(base)/nope").status == 404)
        let check = try Self.call("POST", "\(base)/check", token: token)
        #expect(check.status == 200)
        #expect((check.json as? [String: Any])?["update_available"] as? Bool == true)
        let changelog = try Self.call("GET", "\(base)/changelog")
        #expect(((changelog.json as? [String: Any])?["entries"] as? [[String: Any]])?.first?["version"] as? String == "1.1.0")
        // Nothing downloaded yet: install is refused.
        #expect(try Self.call("POST", "\(base)/install", token: token).status == 422)
        // Background download; status shows it, then the result.
        #expect(try Self.call("POST", "\(base)/download", token: token).status == 202)
        var downloaded: [String: Any]?
        for _ in 0..<200 {
            let s = try Self.call("GET", "\(base)/status").json as? [String: Any]
            if let d = s?["downloaded"] as? [String: Any] { downloaded = d; break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(downloaded?["version"] as? String == "1.1.0")
        let install = try Self.call("POST", "\(base)/install", token: token)
        #expect(install.status == 200)
        #expect(AgentFeed.read(installPath) == v2)
        // skip-version and configure, with validation.
        #expect(try Self.call("POST", "\(base)/skip-version", token: token, body: #"{"version": "1.2.0"}"#).status == 200)
        #expect(try Self.call("POST", "\(base)/skip-version", token: token, body: #"{"version": "one"}"#).status == 400)
        #expect(try Self.call("POST", "\(base)/skip-version", token: token, body: "not json").status == 400)
        let bad = try Self.call("POST", "\(base)/configure", token: token, body: #"{"backup_count": "x"}"#)
        #expect(bad.status == 400)
        #expect(((bad.json as? [String: Any])?["error"] as? String)?.contains("backup_count") == true)
        let good = try Self.call("POST", "\(base)/configure", token: token, body: #"{"backup_count": 2, "auto_download": true}"#)
        #expect(good.status == 200)
        #expect((good.json as? [String: Any])?["backup_count"] as? Int == 2)
        #expect((good.json as? [String: Any])?["skip_versions"] as? [String] == ["1.2.0"])
        let rollback = try Self.call("POST", "\(base)/rollback", token: token)
        #expect(rollback.status == 200)
        #expect(AgentFeed.read(installPath) == v1)
    }

    @Test func periodicCheckerDownloadsAndInstalls() throws {
        let feed = try AgentFeed("agent-periodic")
        let v1 = AgentVersions.base(600_000)
        let v2 = AgentVersions.edit(v1, at: 50_000, count: 10_000, seed: 13)
        try feed.publish("1.0.0", [("app.bin", v1)])
        try feed.publish("1.1.0", [("app.bin", v2)])
        try feed.serve()
        let installPath = try feed.write("app/app.bin", v1)
        let state = feed.dir.path("state")
        _ = try feed.agentJSON("init", state, ["--feed", feed.feedURL, "--install-path", installPath, "--installed-version", "1.0.0",
                                               "--set", "auto_download=true", "--set", "auto_install=true",
                                               "--set", "check_interval_s=1"])
        let tokenFile = try feed.write("token", Array("another-token-0123456789\n".utf8))
        let agent = try Self.agentServe(["--state", state, "--token-file", tokenFile])
        var installed: String?
        for _ in 0..<150 {
            let s = try Self.call("GET", "http://127.0.0.1:\(agent.port)/api/updates/status").json as? [String: Any]
            installed = (s?["installed"] as? [String: Any])?["version"] as? String
            if installed == "1.1.0" { break }
            Thread.sleep(forTimeInterval: 0.2)
        }
        #expect(installed == "1.1.0")
        #expect(AgentFeed.read(installPath) == v2)
    }
}
