import BlockyardTestSupport
import Foundation
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `agent serve` against hostile or careless clients: the token holder cannot make the agent
/// run a command or write somewhere else, oversized and malformed bodies get precise 4xx
/// answers (never a 500 or a dropped connection), and concurrent settings changes all land.
@Suite("agent API hardening")
struct AgentAPIHardeningTests {
    static let token = "hardening-token-0123456789"

    /// An agent for `app/app.bin` at 1.0.0, a feed offering 1.1.0, and `agent serve` on it.
    static func serving(_ label: String) throws -> (feed: AgentFeed, state: String, installPath: String, agent: ListeningProcess, v2: [UInt8]) {
        let feed = try AgentFeed(label)
        let v1 = AgentVersions.base(300_000)
        let v2 = AgentVersions.edit(v1, at: 100_000, count: 5_000, seed: 31)
        try feed.publish("1.0.0", [("app.bin", v1)])
        try feed.publish("1.1.0", [("app.bin", v2)])
        try feed.serve()
        let installPath = try feed.write("app/app.bin", v1)
        let state = feed.dir.path("state")
        _ = try feed.agentJSON("init", state, ["--feed", feed.feedURL, "--install-path", installPath, "--installed-version", "1.0.0",
                                               "--set", "auto_check=false"])
        let tokenFile = try feed.write("token", Array("\(token)\n".utf8))
        let agent = try AgentServeTests.agentServe(["--state", state, "--token-file", tokenFile, "--no-periodic"])
        return (feed, state, installPath, agent, v2)
    }

    @Test func configureRefusesWhatDecidesWhatRunsOrWhereBytesGo() throws {
        let (feed, state, installPath, agent, v2) = try Self.serving("agent-api-keys")
        let base = "http://127.0.0.1:\(agent.port)/api/updates"
        let marker = feed.dir.path("health-cmd-ran")
        let victim = try feed.write("victim/passwd", Array("root:x:0:0\n".utf8))
        let configBefore = AgentFeed.read(state + "/config.json")
        let stateBefore = AgentFeed.read(state + "/state.json")
        let attempts: [(body: String, refused: [String])] = [
            (#"{"health_cmd": "touch \#(marker)"}"#, ["health_cmd"]),
            (#"{"install_path": "\#(victim)"}"#, ["install_path"]),
            (#"{"feed": "http://127.0.0.1:1/evil/"}"#, ["feed"]),
            (#"{"public_key": null}"#, ["public_key"]),
            (#"{"kind": "bundle"}"#, ["kind"]),
            (#"{"file": "other.bin"}"#, ["file"]),
            (#"{"platform": "win"}"#, ["platform"]),
            (#"{"allow_downgrade": true}"#, ["allow_downgrade"]),
            (#"{"last_check": null}"#, ["last_check"]),
            // Harmless keys beside a refused one: nothing at all is applied.
            (#"{"auto_download": true, "backup_count": 1, "health_cmd": "touch \#(marker)", "install_path": "\#(victim)"}"#,
             ["install_path", "health_cmd"]),
        ]
        for attempt in attempts {
            let answer = try AgentServeTests.call("POST", "\(base)/configure", token: Self.token, body: attempt.body)
            let json = answer.json as? [String: Any]
            #expect(answer.status == 403, "\(attempt.body): \(answer.status)")
            #expect(json?["kind"] as? String == "forbidden")
            #expect(json?["refused"] as? [String] == attempt.refused, "\(attempt.body)")
            #expect((json?["error"] as? String)?.contains("blockyard agent configure") == true)
            #expect(AgentFeed.read(state + "/config.json") == configBefore, "\(attempt.body) changed config.json")
            #expect(AgentFeed.read(state + "/state.json") == stateBefore, "\(attempt.body) changed state.json")
        }
        // The harmless settings still work.
        let allowed = try AgentServeTests.call("POST", "\(base)/configure", token: Self.token,
                                               body: #"{"auto_download": true, "update_channel": "stable", "check_interval_s": 60}"#)
        #expect(allowed.status == 200)
        #expect((allowed.json as? [String: Any])?["check_interval_s"] as? Int == 60)
        // Download and install: the refused command never ran, the victim is untouched, the
        // install went where the local configuration says.
        #expect(try AgentServeTests.call("POST", "\(base)/download", token: Self.token).status == 202)
        var downloaded = false
        for _ in 0..<200 where !downloaded {
            downloaded = (try AgentServeTests.call("GET", "\(base)/status").json as? [String: Any])?["downloaded"] is [String: Any]
            if !downloaded { Thread.sleep(forTimeInterval: 0.1) }
        }
        #expect(downloaded)
        #expect(try AgentServeTests.call("POST", "\(base)/install", token: Self.token).status == 200)
        #expect(!FileManager.default.fileExists(atPath: marker), "health_cmd set over REST ran")
        #expect(AgentFeed.read(victim) == Array("root:x:0:0\n".utf8))
        #expect(AgentFeed.read(installPath) == v2)
        // The local CLI may still change them.
        let local = try feed.agentJSON("configure", state, ["health_cmd=true", "allow_downgrade=true"])
        #expect(local["health_cmd"] as? String == "true")
    }

    @Test func oversizedMalformedAndMistypedBodies() throws {
        let (feed, state, _, agent, _) = try Self.serving("agent-api-bodies")
        defer { withExtendedLifetime(feed) {} } // its directory holds the state
        let port = agent.port
        let configBefore = AgentFeed.read(state + "/config.json")
        func post(_ path: String, headers: [String], body: [UInt8] = [], token: String? = Self.token) throws -> AgentRawHTTP.Response {
            try AgentRawHTTP.exchange(port: port, AgentRawHTTP.request("POST", "/api/updates/\(path)", port: port, token: token,
                                                                        headers: headers, body: body))
        }
        // A huge announced size: answered at once, without waiting for the body.
        for path in ["configure", "check"] {
            let huge = try post(path, headers: ["Content-Type: application/json", "Content-Length: 99999999999"])
            #expect(huge.status == 413, "\(path): \(huge.head)")
            #expect(huge.json?["kind"] as? String == "too-large")
            #expect((huge.json?["error"] as? String)?.contains("65536 bytes") == true)
        }
        // Over the limit with Content-Length, and chunked (no Content-Length): 413, not 500.
        let padding = [UInt8](repeating: 0x20, count: 70_000)
        let big = Array(#"{"auto_check": true}"#.utf8) + padding
        let sized = try post("configure", headers: ["Content-Type: application/json", "Content-Length: \(big.count)"], body: big)
        #expect(sized.status == 413, "\(sized.head)\(sized.body)")
        #expect(sized.json?["kind"] as? String == "too-large")
        var chunked: [UInt8] = []
        for start in stride(from: 0, to: big.count, by: 8192) {
            let piece = big[start..<min(start + 8192, big.count)]
            chunked += Array(String(piece.count, radix: 16).utf8) + [13, 10] + piece + [13, 10]
        }
        chunked += Array("0\r\n\r\n".utf8)
        let streamed = try post("configure", headers: ["Content-Type: application/json", "Transfer-Encoding: chunked"], body: chunked)
        #expect(streamed.status == 413, "\(streamed.head)\(streamed.body)")
        #expect(streamed.json?["kind"] as? String == "too-large")
        #expect(AgentFeed.read(state + "/config.json") == configBefore)
        // Just under the limit is fine.
        let fits = Array(#"{"check_interval_s": 120}"#.utf8) + [UInt8](repeating: 0x20, count: 65_000)
        let accepted = try post("configure", headers: ["Content-Type: application/json", "Content-Length: \(fits.count)"], body: fits)
        #expect(accepted.status == 200, "\(accepted.body)")
        #expect(accepted.json?["check_interval_s"] as? Int == 120)
        // Malformed JSON and a JSON value that is not an object: 400.
        for text in ["{\"auto_check\": tru", "[1, 2]", ""] {
            let body = Array(text.utf8)
            let bad = try post("configure", headers: ["Content-Type: application/json", "Content-Length: \(body.count)"], body: body)
            #expect(bad.status == 400, "\(text): \(bad.head)")
            #expect(bad.json?["kind"] as? String == "usage")
        }
        // Wrong or missing Content-Type: 415.
        let form = Array("auto_check=false".utf8)
        for headers in [["Content-Type: application/x-www-form-urlencoded"], ["Content-Type: text/plain"],
                        ["Content-Type: application/json; charset=latin1"], []] {
            let json = Array(#"{"auto_check": false}"#.utf8)
            let body = headers.first?.contains("form") == true ? form : json
            let refused = try post("configure", headers: headers + ["Content-Length: \(body.count)"], body: body)
            #expect(refused.status == 415, "\(headers): \(refused.head)")
            #expect((refused.json?["error"] as? String)?.contains("application/json") == true)
        }
        let utf8 = Array(#"{"version": "9.9.9"}"#.utf8)
        let charset = try post("skip-version", headers: ["Content-Type: Application/JSON; charset=UTF-8", "Content-Length: \(utf8.count)"],
                               body: utf8)
        #expect(charset.status == 200, "\(charset.body)")
        // Without the token, still 401 (the token is checked before the body is read).
        let anonymous = try post("configure", headers: ["Content-Type: application/json", "Content-Length: 2"], body: Array("{}".utf8),
                                 token: nil)
        #expect(anonymous.status == 401)
        // The server is still serving.
        #expect(try AgentServeTests.call("GET", "http://127.0.0.1:\(port)/api/updates/status").status == 200)
    }

    @Test func concurrentSettingsChangesAllLand() throws {
        let (feed, state, _, agent, _) = try Self.serving("agent-api-concurrent")
        defer { withExtendedLifetime(feed) {} } // its directory holds the state
        let base = "http://127.0.0.1:\(agent.port)/api/updates"
        let versions = (1...12).map { "2.0.\($0)" }
        let lock = NSLock()
        nonisolated(unsafe) var statuses = [Int](repeating: 0, count: versions.count)
        DispatchQueue.concurrentPerform(iterations: versions.count) { i in
            let body = #"{"version": "\#(versions[i])"}"#
            let status = (try? AgentServeTests.call("POST", "\(base)/skip-version", token: Self.token, body: body).status) ?? -1
            lock.withLock { statuses[i] = status }
        }
        #expect(statuses.allSatisfy { $0 == 200 }, "\(statuses)")
        let config = try #require(try JSONSerialization.jsonObject(with: Data(AgentFeed.read(state + "/config.json"))) as? [String: Any])
        #expect(Set(config["skip_versions"] as? [String] ?? []) == Set(versions))
        let saved = try #require(try JSONSerialization.jsonObject(with: Data(AgentFeed.read(state + "/state.json"))) as? [String: Any])
        let history = saved["history"] as? [[String: Any]] ?? []
        #expect(history.filter { $0["action"] as? String == "skip" }.count == versions.count)
        // No temporary files are left beside them.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: state).filter { $0.contains("blockyard-tmp") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }
}
