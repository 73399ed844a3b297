import BlockyardTestSupport
import Foundation
import Testing

/// A missing, broken or newer-format `state.json` is refused (exit 65), never taken for a fresh
/// install; `agent repair` rebuilds it from what is installed.
@Suite("agent state repair")
struct AgentStateRepairTests {
    static let commands: [[String]] = [["status"], ["check"], ["download"], ["install"], ["rollback"], ["skip", "9.9.9"],
                                       ["configure", "auto_check=false"], ["changelog"]]

    /// Every command refuses the state directory with exit 65 and names `agent repair`;
    /// the install path, config.json and state.json (or its absence) stay as they are.
    static func everyCommandRefuses(_ feed: AgentFeed, _ state: String, _ installPath: String, message: String,
                                    sourceLocation: SourceLocation = #_sourceLocation) throws {
        let installed = AgentFeed.read(installPath)
        let config = AgentFeed.read(state + "/config.json")
        let saved = FileManager.default.contents(atPath: state + "/state.json")
        for command in commands {
            let result = try feed.agent(command[0], state, Array(command.dropFirst()))
            #expect(result.status == 65, "\(command): exit \(result.status): \(result.stderr)", sourceLocation: sourceLocation)
            #expect(result.stderr.contains(message), "\(command): \(result.stderr)", sourceLocation: sourceLocation)
            #expect(result.stderr.contains("blockyard agent repair --state \(state)"), "\(command): \(result.stderr)",
                    sourceLocation: sourceLocation)
        }
        #expect(AgentFeed.read(installPath) == installed, sourceLocation: sourceLocation)
        #expect(AgentFeed.read(state + "/config.json") == config, sourceLocation: sourceLocation)
        #expect(FileManager.default.contents(atPath: state + "/state.json") == saved, sourceLocation: sourceLocation)
        #expect(!FileManager.default.fileExists(atPath: state + "/downloads"), sourceLocation: sourceLocation)
    }

    @Test func missingStateIsRefusedThenRebuiltFromTheFeed() throws {
        let feed = try AgentFeed("agent-state-missing")
        let v1 = AgentVersions.base(300_000)
        try feed.publish("1.0.0", [("app.bin", v1)])
        try feed.serve()
        let installPath = try feed.write("app/app.bin", v1)
        let state = feed.dir.path("state")
        _ = try feed.agentJSON("init", state, ["--feed", feed.feedURL, "--install-path", installPath, "--installed-version", "1.0.0"])
        // Intact: repair changes nothing.
        let before = AgentFeed.read(state + "/state.json")
        let intact = try feed.agentJSON("repair", state)
        #expect(intact["status"] as? String == "intact")
        #expect(AgentFeed.read(state + "/state.json") == before)

        try FileManager.default.removeItem(atPath: state + "/state.json")
        try Self.everyCommandRefuses(feed, state, installPath, message: "state.json is missing")

        let repaired = try feed.agentJSON("repair", state)
        #expect(repaired["status"] as? String == "repaired")
        #expect(repaired["installed"] as? String == "1.0.0")
        #expect(repaired["version_source"] as? String == "feed")
        #expect(repaired["staging_id_recovered"] as? Bool == false)
        #expect(repaired["kept_as"] is NSNull)
        #expect((repaired["warnings"] as? [String])?.first?.contains("staging id") == true)
        let status = try feed.status(state)
        #expect(AgentFeed.installedVersion(status) == "1.0.0")
        #expect(status["staging_id"] as? String == repaired["staging_id"] as? String)
        #expect((status["history"] as? [[String: Any]])?.last?["action"] as? String == "repair")
        #expect(try feed.agentJSON("check", state)["update_available"] as? Bool == false)
        // Human output.
        #expect(try feed.agent("repair", state).stdout.contains("intact"))
    }

    @Test func newerFormatIsRefusedThenRebuiltKeepingWhatItCan() throws {
        let feed = try AgentFeed("agent-state-format")
        let v1 = AgentVersions.base(300_000)
        let v2 = AgentVersions.edit(v1, at: 1_000, count: 4_000, seed: 41)
        try feed.publish("1.0.0", [("app.bin", v1)])
        try feed.publish("1.1.0", [("app.bin", v2)])
        try feed.serve()
        let installPath = try feed.write("app/app.bin", v1)
        let state = feed.dir.path("state")
        let stagingID = "0b3c1f52-8a3e-4f0e-9d57-2d2f7c7e6a11"
        _ = try feed.agentJSON("init", state, ["--feed", feed.feedURL, "--install-path", installPath, "--installed-version", "1.0.0",
                                               "--staging-id", stagingID])
        _ = try feed.agentJSON("skip", state, ["1.0.5"])
        var saved = try #require(try JSONSerialization.jsonObject(with: Data(AgentFeed.read(state + "/state.json"))) as? [String: Any])
        saved["format"] = 99
        saved["failed_versions"] = ["1.0.3"]
        saved["something_new"] = ["from": "a newer agent"]
        let newer = try JSONSerialization.data(withJSONObject: saved, options: [.sortedKeys])
        FileManager.default.createFile(atPath: state + "/state.json", contents: newer)
        try Self.everyCommandRefuses(feed, state, installPath, message: "has format version 99, but this blockyard reads only up to version 1")

        let repaired = try feed.agentJSON("repair", state)
        #expect(repaired["status"] as? String == "repaired")
        #expect(repaired["installed"] as? String == "1.0.0")
        #expect(repaired["version_source"] as? String == "previous-state")
        #expect(repaired["staging_id"] as? String == stagingID)
        #expect(repaired["staging_id_recovered"] as? Bool == true)
        #expect(repaired["failed_versions"] as? [String] == ["1.0.3"])
        #expect(repaired["history_recovered"] as? Int ?? 0 >= 2)
        let kept = try #require(repaired["kept_as"] as? String)
        #expect(FileManager.default.contents(atPath: kept) == newer, "the newer file must be kept as it was")
        let status = try feed.status(state)
        #expect(status["staging_id"] as? String == stagingID)
        #expect(status["failed_versions"] as? [String] == ["1.0.3"])
        let actions = (status["history"] as? [[String: Any]] ?? []).compactMap { $0["action"] as? String }
        #expect(actions.starts(with: ["adopt", "skip"]) && actions.last == "repair", "\(actions)")
        #expect(try feed.agentJSON("check", state)["update_available"] as? Bool == true)
    }

    @Test func unknownInstalledVersionNeedsTheOption() throws {
        let feed = try AgentFeed("agent-state-unknown")
        let v1 = AgentVersions.base(300_000)
        let v2 = AgentVersions.edit(v1, at: 5_000, count: 4_000, seed: 42)
        try feed.publish("1.0.0", [("app.bin", v1)])
        try feed.publish("1.1.0", [("app.bin", v2)])
        try feed.serve()
        let installPath = try feed.write("app/app.bin", v1)
        let state = feed.dir.path("state")
        _ = try feed.agentJSON("init", state, ["--feed", feed.feedURL, "--install-path", installPath, "--installed-version", "1.0.0"])
        let garbage = Array("{\"format\": 1, \"staging_id\": ".utf8)
        FileManager.default.createFile(atPath: state + "/state.json", contents: Data(garbage))
        try Self.everyCommandRefuses(feed, state, installPath, message: "not a valid agent state")

        // The feed offers 1.1.0, which is not what is installed, and there is no backup: no guess.
        let unknown = try feed.agent("repair", state)
        #expect(unknown.status == 66)
        #expect(unknown.stderr.contains("cannot tell which version is at \(installPath)"), "\(unknown.stderr)")
        #expect(unknown.stderr.contains("1.1.0"))
        #expect(unknown.stderr.contains("--installed-version"))
        #expect(AgentFeed.read(state + "/state.json") == garbage)
        #expect(try feed.agent("repair", state, ["--installed-version", "one"]).status == 64)

        let repaired = try feed.agentJSON("repair", state, ["--installed-version", "1.0.0"])
        #expect(repaired["version_source"] as? String == "option")
        #expect(repaired["installed"] as? String == "1.0.0")
        let kept = try #require(repaired["kept_as"] as? String)
        #expect(AgentFeed.read(kept) == garbage)
        // The agent works again: 1.1.0 is offered, downloaded against the installed file, installed.
        #expect(try feed.agentJSON("check", state)["update_available"] as? Bool == true)
        _ = try feed.agentJSON("download", state)
        #expect(try feed.agentJSON("install", state)["status"] as? String == "installed")
        #expect(AgentFeed.read(installPath) == v2)
    }

    @Test func bundleVersionFromTheFeedOrABackup() throws {
        let feed = try AgentFeed("agent-state-bundle")
        let weights = AgentVersions.base(400_000)
        let weights2 = AgentVersions.edit(weights, at: 100_000, count: 8_000, seed: 43)
        let config = Array(#"{"hidden_size": 64}"#.utf8)
        let v1 = [("model.safetensors", weights), ("config.json", config)]
        try feed.publish("1.0.0", v1)
        try feed.publish("1.1.0", [("model.safetensors", weights2), ("config.json", config)])
        try feed.serve()
        let bundle = feed.dir.path("models/llm")
        for (name, bytes) in v1 { _ = try feed.write("models/llm/\(name)", bytes) }
        let state = feed.dir.path("state")
        _ = try feed.agentJSON("init", state, ["--feed", feed.feedURL, "--install-path", bundle, "--kind", "bundle",
                                               "--installed-version", "1.0.0"])
        _ = try feed.agentJSON("download", state)
        _ = try feed.agentJSON("install", state)
        #expect(AgentFeed.read(bundle + "/model.safetensors") == weights2)

        // 1.1.0 is installed and is the feed's latest: found by the channel file's SHA-512s.
        try FileManager.default.removeItem(atPath: state + "/state.json")
        #expect(try feed.agent("status", state).status == 65)
        let fromFeed = try feed.agentJSON("repair", state)
        #expect(fromFeed["installed"] as? String == "1.1.0")
        #expect(fromFeed["version_source"] as? String == "feed")

        // Someone put 1.0.0's files back by hand and state.json is lost again: the backup of
        // 1.0.0 the install kept has the same SHA-512s.
        _ = try feed.write("models/llm/model.safetensors", weights)
        try FileManager.default.removeItem(atPath: state + "/state.json")
        let fromBackup = try feed.agentJSON("repair", state)
        #expect(fromBackup["installed"] as? String == "1.0.0")
        #expect(fromBackup["version_source"] as? String == "backup")
        #expect(try feed.agentJSON("check", state)["update_available"] as? Bool == true)
    }
}
