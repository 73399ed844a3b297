import BlockyardTestSupport
import Foundation
import Testing

/// `blockyard agent` end to end against `blockyard serve` on 127.0.0.1.
@Suite("agent command")
struct AgentCommandTests {
    @Test func installUpdateRollbackSkip() throws {
        let feed = try AgentFeed("agent-e2e")
        let v1 = AgentVersions.base()
        let v2 = AgentVersions.edit(v1, at: 700_000, count: 20_000, seed: 2)
        try feed.publish("1.0.0", [("MyApp.AppImage", v1)])
        try feed.publish("1.1.0", [("MyApp.AppImage", v2)])
        try feed.serve()
        let installPath = try feed.write("app/MyApp.AppImage", v1)
        let state = feed.dir.path("state")

        let initialized = try feed.agentJSON("init", state, ["--feed", feed.feedURL, "--install-path", installPath,
                                                               "--installed-version", "1.0.0"])
        #expect(AgentFeed.installedVersion(initialized) == "1.0.0")
        let config = try #require(initialized["config"] as? [String: Any])
        // The seed's keys, with their defaults.
        #expect(config["auto_check"] as? Bool == true)
        #expect(config["auto_download"] as? Bool == false)
        #expect(config["auto_install"] as? Bool == false)
        #expect(config["update_channel"] as? String == "stable")
        #expect((config["skip_versions"] as? [Any])?.isEmpty == true)
        #expect(config["backup_count"] as? Int == 5)
        #expect(config["check_interval_s"] as? Int == 86400)
        #expect(config["last_check"] is NSNull)
        #expect(config["public_key"] is NSNull)

        // check
        let check = try feed.agentJSON("check", state)
        #expect(check["update_available"] as? Bool == true)
        #expect((check["available"] as? [String: Any])?["version"] as? String == "1.1.0")
        #expect(try feed.status(state)["config"].flatMap { ($0 as? [String: Any])?["last_check"] as? String } != nil)

        // changelog: the server's releases API gives the notes of 1.1.0 only (1.0.0 is installed).
        let changelog = try feed.agentJSON("changelog", state)
        let entries = try #require(changelog["entries"] as? [[String: Any]])
        #expect(entries.map { $0["version"] as? String } == ["1.1.0"])
        #expect(entries.first?["notes"] as? String == "notes of 1.1.0")

        // download: differential (the installed file is the seed).
        let download = try feed.agentJSON("download", state)
        #expect(download["status"] as? String == "downloaded")
        let fetched = try #require(download["bytes_fetched"] as? Int)
        #expect(fetched > 0 && fetched < v2.count / 4, "fetched \(fetched) of \(v2.count)")
        #expect(AgentFeed.read(installPath) == v1, "download must not touch the installed file")
        #expect(try feed.agentJSON("download", state)["status"] as? String == "already-downloaded")

        // install with a passing health check
        let install = try feed.agentJSON("install", state, ["--health-cmd", "test \"$BLOCKYARD_VERSION\" = 1.1.0 && test \"$BLOCKYARD_PREVIOUS_VERSION\" = 1.0.0"])
        #expect(install["status"] as? String == "installed")
        #expect(install["health_check"] as? String == "passed")
        #expect(AgentFeed.read(installPath) == v2)
        var status = try feed.status(state)
        #expect(AgentFeed.installedVersion(status) == "1.1.0")
        #expect((status["backups"] as? [[String: Any]])?.map { $0["version"] as? String } == ["1.0.0"])
        #expect(status["downloaded"] is NSNull)
        let noUpdate = try feed.agentJSON("check", state)
        #expect(noUpdate["update_available"] as? Bool == false)
        #expect((noUpdate["available"] as? [String: Any])?["decision"] as? String == "up-to-date")

        // rollback restores the backup; the backup is used up.
        let rollback = try feed.agentJSON("rollback", state)
        #expect(rollback["version"] as? String == "1.0.0")
        #expect(AgentFeed.read(installPath) == v1)
        status = try feed.status(state)
        #expect(AgentFeed.installedVersion(status) == "1.0.0")
        #expect((status["backups"] as? [Any])?.isEmpty == true)
        let noBackup = try feed.agent("rollback", state)
        #expect(noBackup.status == 66)
        #expect(noBackup.stderr.contains("no backup"))

        // skip: a skipped version is not offered, downloaded or installed.
        _ = try feed.agentJSON("skip", state, ["1.1.0"])
        let skipped = try feed.agentJSON("check", state)
        #expect(skipped["update_available"] as? Bool == false)
        #expect((skipped["available"] as? [String: Any])?["decision"] as? String == "skipped")
        let nothing = try feed.agentJSON("download", state)
        #expect(nothing["status"] as? String == "not-offered")
        let noInstall = try feed.agent("install", state)
        #expect(noInstall.status == 66)
        #expect(noInstall.stderr.contains("nothing is downloaded"))
        #expect(AgentFeed.read(installPath) == v1)

        // Human output and help.
        let human = try feed.agent("status", state)
        #expect(human.status == 0)
        #expect(human.stdout.contains("installed   1.0.0"))
        #expect(human.stdout.contains("skipping    1.1.0"))
        let help = try CommandRunner.run(["agent", "--help"])
        #expect(help.stdout.contains("EXIT CODES"))
    }

    @Test func freshInstallFromTheFeed() throws {
        let feed = try AgentFeed("agent-fresh")
        let v1 = AgentVersions.base(700_000)
        try feed.publish("1.0.0", [("app.bin", v1)])
        try feed.serve()
        let installPath = feed.dir.path("app/app.bin")
        try FileManager.default.createDirectory(atPath: feed.dir.path("app"), withIntermediateDirectories: true)
        let state = feed.dir.path("state")
        // An existing file needs its version; a missing one is installed from the feed.
        let existing = try feed.write("other/app.bin", v1)
        let refused = try feed.agent("init", feed.dir.path("state-x"), ["--feed", feed.feedURL, "--install-path", existing])
        #expect(refused.status == 64)
        #expect(refused.stderr.contains("--installed-version"))
        let initialized = try feed.agentJSON("init", state, ["--feed", feed.feedURL, "--install-path", installPath])
        #expect(initialized["installed"] is NSNull)
        let download = try feed.agentJSON("download", state)
        #expect(download["bytes_fetched"] as? Int ?? 0 >= v1.count)
        let install = try feed.agentJSON("install", state)
        #expect(install["status"] as? String == "installed")
        #expect(install["backup"] == nil || install["backup"] is NSNull)
        #expect(AgentFeed.read(installPath) == v1)
        #expect(AgentFeed.installedVersion(try feed.status(state)) == "1.0.0")
        #expect(try feed.agent("rollback", state).status == 66)
    }

    @Test func signedFeed() throws {
        let feed = try AgentFeed("agent-signed")
        let key = feed.dir.path("release.key"), other = feed.dir.path("other.key")
        #expect(try CommandRunner.run(["key", "generate", "--out", key]).status == 0)
        #expect(try CommandRunner.run(["key", "generate", "--out", other]).status == 0)
        let v1 = AgentVersions.base(400_000)
        let v2 = AgentVersions.edit(v1, at: 1_000, count: 2_000, seed: 14)
        try feed.publish("1.0.0", [("app.bin", v1)], extra: ["--sign", key])
        try feed.publish("1.1.0", [("app.bin", v2)], extra: ["--sign", key])
        try feed.serve()
        let installPath = try feed.write("app/app.bin", v1)
        // The right public key: the signed channel file is accepted and installed.
        let state = feed.dir.path("state")
        _ = try feed.agentJSON("init", state, ["--feed", feed.feedURL, "--install-path", installPath,
                                               "--installed-version", "1.0.0", "--set", "public_key=\(key).pub"])
        #expect(try feed.agentJSON("check", state)["update_available"] as? Bool == true)
        _ = try feed.agentJSON("download", state)
        _ = try feed.agentJSON("install", state)
        #expect(AgentFeed.read(installPath) == v2)
        // Another key: the check fails (exit 1), nothing is offered or downloaded.
        let otherPath = try feed.write("other/app.bin", v1)
        let otherState = feed.dir.path("state-other")
        _ = try feed.agentJSON("init", otherState, ["--feed", feed.feedURL, "--install-path", otherPath,
                                                    "--installed-version", "1.0.0", "--set", "public_key=\(other).pub"])
        let rejected = try feed.agent("check", otherState)
        #expect(rejected.status == 1, "\(rejected.stderr)")
        #expect(rejected.stderr.lowercased().contains("signature"))
        #expect(try feed.agent("download", otherState).status == 1)
        #expect(AgentFeed.read(otherPath) == v1)
        // A bad key in the configuration is refused with the key's name.
        let bad = try feed.agent("configure", otherState, ["public_key=not-a-key"])
        #expect(bad.status == 64)
        #expect(bad.stderr.contains("public_key"))
    }

    @Test func lockedStateAndBadTokens() throws {
        let feed = try AgentFeed("agent-locked")
        let v1 = AgentVersions.base(100_000)
        try feed.publish("1.0.0", [("app.bin", v1)])
        try feed.serve()
        let installPath = try feed.write("app/app.bin", v1)
        let state = feed.dir.path("state")
        _ = try feed.agentJSON("init", state, ["--feed", feed.feedURL, "--install-path", installPath, "--installed-version", "1.0.0"])
        // Another process holds the state's lock: changes fail at once (75), status still answers.
        let fd = open(state + "/lock", O_RDWR | O_CREAT, 0o644)
        try #require(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
        let locked = try feed.agent("check", state)
        #expect(locked.status == 75)
        #expect(locked.stderr.contains("another agent operation is running"))
        #expect(try feed.agent("install", state).status == 75)
        let status = try feed.status(state)
        #expect(status["busy"] as? Bool == true)
        flock(fd, LOCK_UN)
        close(fd)
        #expect(try feed.agent("check", state).status == 0)
        // The API token: too short is a usage error, a missing file a missing input.
        let short = try feed.write("short-token", Array("abc\n".utf8))
        let tooShort = try feed.agent("serve", state, ["--port", "0", "--token-file", short])
        #expect(tooShort.status == 64)
        #expect(tooShort.stderr.contains("at least 16 characters"))
        #expect(try feed.agent("serve", state, ["--port", "0", "--token-file", feed.dir.path("nope")]).status == 66)
    }

    @Test func failedHealthCheckRollsBack() throws {
        let feed = try AgentFeed("agent-health")
        let v1 = AgentVersions.base(600_000)
        let v2 = AgentVersions.edit(v1, at: 100_000, count: 5_000, seed: 3)
        try feed.publish("1.0.0", [("app.bin", v1)])
        try feed.publish("1.1.0", [("app.bin", v2)])
        try feed.serve()
        let installPath = try feed.write("app.bin", v1)
        let state = feed.dir.path("state")
        _ = try feed.agentJSON("init", state, ["--feed", feed.feedURL, "--install-path", installPath, "--installed-version", "1.0.0"])
        _ = try feed.agentJSON("download", state)
        let install = try feed.agent("install", state, ["--health-cmd", "echo model failed to load; exit 3"])
        #expect(install.status == 1)
        #expect(install.stderr.contains("exited with 3"))
        #expect(install.stderr.contains("model failed to load"))
        #expect(install.stderr.contains("rolled back to 1.0.0"))
        #expect(AgentFeed.read(installPath) == v1)
        let status = try feed.status(state)
        #expect(AgentFeed.installedVersion(status) == "1.0.0")
        #expect((status["failed_versions"] as? [String]) == ["1.1.0"])
        #expect(((status["last_error"] as? [String: Any])?["message"] as? String)?.contains("rolled back") == true)
    }

    @Test func channelsStagedRolloutAndDowngrades() throws {
        let feed = try AgentFeed("agent-channels")
        let v1 = AgentVersions.base(500_000)
        let beta = AgentVersions.edit(v1, at: 10_000, count: 3_000, seed: 4)
        let v11 = AgentVersions.edit(v1, at: 300_000, count: 3_000, seed: 5)
        try feed.publish("1.0.0", [("app.bin", v1)])
        try feed.publish("2.0.0-beta.1", [("app.bin", beta)])
        try feed.serve()
        let installPath = try feed.write("app.bin", v1)
        let state = feed.dir.path("state")
        _ = try feed.agentJSON("init", state, ["--feed", feed.feedURL, "--install-path", installPath, "--installed-version", "1.0.0"])
        // stable sees no beta
        #expect(try feed.agentJSON("check", state)["update_available"] as? Bool == false)
        // beta channel offers it
        _ = try feed.agentJSON("configure", state, ["update_channel=beta"])
        let betaCheck = try feed.agentJSON("check", state)
        #expect((betaCheck["available"] as? [String: Any])?["version"] as? String == "2.0.0-beta.1")
        _ = try feed.agentJSON("download", state)
        _ = try feed.agentJSON("install", state)
        #expect(AgentFeed.read(installPath) == beta)
        // Back to stable: 1.0.0 is older, offered because the channel changed.
        _ = try feed.agentJSON("configure", state, ["update_channel=stable"])
        let back = try feed.agentJSON("check", state)
        #expect((back["available"] as? [String: Any])?["decision"] as? String == "update-available")
        _ = try feed.agentJSON("download", state)
        _ = try feed.agentJSON("install", state)
        #expect(AgentFeed.read(installPath) == v1)
        // A staged release: in for a UUID ending 00000000, out for one ending ffffffff.
        try feed.publish("1.1.0", [("app.bin", v11)], extra: ["--staging-percentage", "50"])
        let inPath = try feed.write("in/app.bin", v1)
        let outPath = try feed.write("out/app.bin", v1)
        let inState = feed.dir.path("state-in"), outState = feed.dir.path("state-out")
        _ = try feed.agentJSON("init", inState, ["--feed", feed.feedURL, "--install-path", inPath, "--installed-version", "1.0.0",
                                                  "--staging-id", "0f0c6a0e-3b1f-4c1a-9e21-000000000000"])
        _ = try feed.agentJSON("init", outState, ["--feed", feed.feedURL, "--install-path", outPath, "--installed-version", "1.0.0",
                                                   "--staging-id", "0f0c6a0e-3b1f-4c1a-9e21-ffffffffffff"])
        #expect((try feed.agentJSON("check", inState)["available"] as? [String: Any])?["decision"] as? String == "update-available")
        let out = try feed.agentJSON("check", outState)
        #expect((out["available"] as? [String: Any])?["decision"] as? String == "not-in-rollout")
        #expect(try feed.agentJSON("download", outState)["status"] as? String == "not-offered")
        // An explicit downgrade policy: a release older than the installed one is refused.
        _ = try feed.agentJSON("download", inState)
        _ = try feed.agentJSON("install", inState)
        #expect(AgentFeed.read(inPath) == v11)
        let older = try feed.write("older/app.bin", v11)
        let olderState = feed.dir.path("state-older")
        _ = try feed.agentJSON("init", olderState, ["--feed", feed.feedURL, "--install-path", older, "--installed-version", "1.5.0",
                                                     "--staging-id", "0f0c6a0e-3b1f-4c1a-9e21-000000000000"])
        let refused = try feed.agentJSON("check", olderState)
        #expect((refused["available"] as? [String: Any])?["decision"] as? String == "downgrade-refused")
        _ = try feed.agentJSON("configure", olderState, ["allow_downgrade=true"])
        #expect((try feed.agentJSON("check", olderState)["available"] as? [String: Any])?["decision"] as? String == "update-available")
    }

    @Test func bundleUpdatesFileByFile() throws {
        let feed = try AgentFeed("agent-bundle")
        let weights = AgentVersions.base(1_500_000)
        let weights2 = AgentVersions.edit(weights, at: 1_000_000, count: 50_000, seed: 6)
        let config = Array(#"{"hidden_size": 64}"#.utf8)
        let tokenizer = VectorInputs.randomBytes(seed: 8, count: 200_000)
        try feed.publish("1.0.0", [("model.safetensors", weights), ("config.json", config), ("tokenizer.json", tokenizer)])
        try feed.publish("1.1.0", [("model.safetensors", weights2), ("config.json", config), ("tokenizer.json", tokenizer),
                                   ("generation.json", Array("{}".utf8))])
        try feed.serve()
        let bundle = feed.dir.path("models/llm")
        for (name, bytes) in [("model.safetensors", weights), ("config.json", config), ("tokenizer.json", tokenizer)] {
            _ = try feed.write("models/llm/\(name)", bytes)
        }
        let state = feed.dir.path("state")
        _ = try feed.agentJSON("init", state, ["--feed", feed.feedURL, "--install-path", bundle, "--kind", "bundle",
                                               "--installed-version", "1.0.0"])
        let download = try feed.agentJSON("download", state)
        let fetched = try #require(download["bytes_fetched"] as? Int)
        let reused = try #require(download["bytes_reused"] as? Int)
        // The unchanged files are never fetched; of the weights only the changed chunks.
        #expect(reused >= tokenizer.count + config.count)
        #expect(fetched < 300_000, "fetched \(fetched)")
        _ = try feed.agentJSON("install", state)
        #expect(AgentFeed.read(bundle + "/model.safetensors") == weights2)
        #expect(AgentFeed.read(bundle + "/tokenizer.json") == tokenizer)
        #expect(AgentFeed.read(bundle + "/generation.json") == Array("{}".utf8))
        let names = try FileManager.default.contentsOfDirectory(atPath: bundle).sorted()
        #expect(names == ["config.json", "generation.json", "model.safetensors", "tokenizer.json"])
        _ = try feed.agentJSON("rollback", state)
        #expect(AgentFeed.read(bundle + "/model.safetensors") == weights)
        #expect(try FileManager.default.contentsOfDirectory(atPath: bundle).sorted() == ["config.json", "model.safetensors", "tokenizer.json"])
    }

    /// A file the agent takes from the installed bundle as unchanged is still checked: one
    /// edited locally since it was installed fails the download, and nothing is recorded.
    @Test func bundleFileChangedSinceInstallIsCaught() throws {
        let feed = try AgentFeed("agent-bundle-tampered")
        let weights = AgentVersions.base(600_000)
        let weights2 = AgentVersions.edit(weights, at: 300_000, count: 20_000, seed: 9)
        let tokenizer = VectorInputs.randomBytes(seed: 10, count: 100_000)
        try feed.publish("1.0.0", [("model.safetensors", weights), ("tokenizer.json", tokenizer)])
        try feed.publish("1.1.0", [("model.safetensors", weights2), ("tokenizer.json", tokenizer)])
        try feed.serve()
        _ = try feed.write("models/llm/model.safetensors", weights)
        _ = try feed.write("models/llm/tokenizer.json", tokenizer)
        let state = feed.dir.path("state")
        _ = try feed.agentJSON("init", state, ["--feed", feed.feedURL, "--install-path", feed.dir.path("models/llm"),
                                               "--kind", "bundle", "--installed-version", "1.0.0"])
        // Edited after the agent recorded it (same size, one byte).
        var tampered = tokenizer
        tampered[5000] ^= 0xff
        _ = try feed.write("models/llm/tokenizer.json", tampered)
        let download = try feed.agent("download", state)
        #expect(download.status == 1, "exit \(download.status): \(download.stderr)")
        #expect(download.stderr.contains("models/llm/tokenizer.json: changed since it was installed"), "\(download.stderr)")
        #expect(try feed.status(state)["downloaded"] == nil || (try feed.status(state)["downloaded"] is NSNull))
    }

    @Test func badConfigurationUnreachableFeedAndFullDisk() throws {
        let feed = try AgentFeed("agent-errors")
        let v1 = AgentVersions.base(400_000)
        let v2 = VectorInputs.randomBytes(seed: 99, count: 3_000_000)
        try feed.publish("1.0.0", [("app.bin", v1)])
        try feed.publish("1.1.0", [("app.bin", v2)])
        try feed.serve()
        let installPath = try feed.write("app.bin", v1)
        let state = feed.dir.path("state")
        _ = try feed.agentJSON("init", state, ["--feed", feed.feedURL, "--install-path", installPath, "--installed-version", "1.0.0"])
        // Bad values: precise message, exit 64, config unchanged.
        for (assignment, message) in [("backup_count=-1", "backup_count must be a whole number"),
                                      ("update_channel=nightly", "update_channel must be one of"),
                                      ("auto_install=yes", "auto_install must be true or false"),
                                      ("skip_versions=1.x", "is not a semantic version"),
                                      ("feed=ftp://x", "feed must be an http(s) URL"),
                                      ("colour=blue", "unknown key")] {
            let result = try feed.agent("configure", state, [assignment])
            #expect(result.status == 64, "\(assignment)")
            #expect(result.stderr.contains(message), "\(assignment): \(result.stderr)")
        }
        let config = try #require(try feed.status(state)["config"] as? [String: Any])
        #expect(config["backup_count"] as? Int == 5)
        // A broken config.json is reported as such.
        let saved = AgentFeed.read(state + "/config.json")
        FileManager.default.createFile(atPath: state + "/config.json", contents: Data(#"{"feed": "http://x/", "install_path": "/x", "backup_count": "five"}"#.utf8))
        let broken = try feed.agent("status", state)
        #expect(broken.status == 65)
        #expect(broken.stderr.contains("backup_count must be a whole number"))
        FileManager.default.createFile(atPath: state + "/config.json", contents: Data(saved))

        // Disk full: a file-size limit makes the download's writes fail; nothing is installed.
        let limited = try AgentFeed.shell("ulimit -f 1024; exec \"$0\" agent download --state \"$1\"",
                                          [CommandRunner.binary.path, state])
        #expect(limited.status != 0)
        #expect(limited.stderr.contains("too large") || limited.stderr.contains("No space"), "\(limited.stderr)")
        var status = try feed.status(state)
        #expect(AgentFeed.installedVersion(status) == "1.0.0")
        #expect(status["downloaded"] is NSNull)
        #expect(status["last_error"] is [String: Any])
        #expect(try feed.agent("install", state).status == 66)
        #expect(AgentFeed.read(installPath) == v1)

        // Unreachable feed: exit 74, the error is in status, nothing changes.
        let port = feed.server!.port
        #expect(feed.server!.stop() == 0)
        let unreachable = try feed.agent("check", state)
        #expect(unreachable.status == 74, "\(unreachable.stderr)")
        #expect(unreachable.stderr.contains("127.0.0.1:\(port)"))
        status = try feed.status(state)
        #expect(((status["last_error"] as? [String: Any])?["operation"] as? String) == "check")
        #expect(AgentFeed.installedVersion(status) == "1.0.0")
        #expect(AgentFeed.read(installPath) == v1)
    }
}
