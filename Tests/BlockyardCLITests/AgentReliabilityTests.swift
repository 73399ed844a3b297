import BlockyardTestSupport
import Foundation
import Testing

/// kill -9 during download, install and rollback: afterwards the installed version is the old
/// or the new one, complete and verified, and no backup is lost.
@Suite("agent reliability")
struct AgentReliabilityTests {
    /// Checks that what is at the install path is what the state says is installed.
    static func consistent(_ feed: AgentFeed, _ state: String, _ installPath: String, versions: [String: [UInt8]],
                           sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let status = try feed.status(state)
        let installed = try #require(AgentFeed.installedVersion(status), sourceLocation: sourceLocation)
        #expect(AgentFeed.read(installPath) == versions[installed], "installed \(installed) but the file differs",
                sourceLocation: sourceLocation)
        #expect(status["pending"] is NSNull, sourceLocation: sourceLocation)
        for backup in (status["backups"] as? [[String: Any]]) ?? [] {
            let version = try #require(backup["version"] as? String)
            let path = try #require(backup["path"] as? String)
            #expect(AgentFeed.read(path + "/payload") == versions[version], "backup of \(version) damaged",
                    sourceLocation: sourceLocation)
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: URL(fileURLWithPath: installPath).deletingLastPathComponent().path)
            .filter { $0.contains("blockyard-new") }
        #expect(leftovers.isEmpty, "staged files left: \(leftovers)", sourceLocation: sourceLocation)
        return installed
    }

    @Test func killedAtEveryStepOfInstallAndRollback() throws {
        let feed = try AgentFeed("agent-crash")
        let v1 = AgentVersions.base(800_000)
        let v2 = AgentVersions.edit(v1, at: 200_000, count: 30_000, seed: 11)
        try feed.publish("1.0.0", [("app.bin", v1)])
        try feed.publish("1.1.0", [("app.bin", v2)])
        try feed.serve()
        let versions = ["1.0.0": v1, "1.1.0": v2]
        for point in ["install:backup", "install:staged", "install:swapped"] {
            let installPath = try feed.write("\(point)/app.bin", v1)
            let state = feed.dir.path("state-\(point)")
            _ = try feed.agentJSON("init", state, ["--feed", feed.feedURL, "--install-path", installPath, "--installed-version", "1.0.0"])
            _ = try feed.agentJSON("download", state)
            let killed = try feed.agent("install", state, environment: ["BLOCKYARD_AGENT_CRASH_AT": point])
            #expect(killed.status == SIGKILL, "\(point): not killed (exit \(killed.status))")
            // The next command finishes or undoes the install.
            let installed = try Self.consistent(feed, state, installPath, versions: versions)
            #expect(installed == (point == "install:swapped" ? "1.1.0" : "1.0.0"), "\(point)")
            if installed == "1.0.0" {
                // Retrying works; the backup made by the interrupted install was not duplicated.
                _ = try feed.agentJSON("install", state)
                #expect(try Self.consistent(feed, state, installPath, versions: versions) == "1.1.0")
            }
            #expect((try feed.status(state)["backups"] as? [Any])?.count == 1, "\(point)")
            // Rollback killed after staging and after the swap.
            for rollbackPoint in ["rollback:staged", "rollback:swapped"] {
                let before = try #require(AgentFeed.installedVersion(try feed.status(state)))
                guard before == "1.1.0" else { break }
                _ = try feed.agent("rollback", state, environment: ["BLOCKYARD_AGENT_CRASH_AT": rollbackPoint])
                let after = try Self.consistent(feed, state, installPath, versions: versions)
                #expect(after == (rollbackPoint == "rollback:swapped" ? "1.0.0" : "1.1.0"), "\(rollbackPoint)")
            }
        }
    }

    @Test func killedDuringDownloadResumes() throws {
        let feed = try AgentFeed("agent-kill-download")
        let v1 = VectorInputs.randomBytes(seed: 21, count: 4_000_000)
        let v2 = VectorInputs.randomBytes(seed: 22, count: 24_000_000)
        try feed.publish("1.0.0", [("app.bin", v1)])
        try feed.publish("1.1.0", [("app.bin", v2)])
        try feed.serve()
        let versions = ["1.0.0": v1, "1.1.0": v2]
        let installPath = try feed.write("app/app.bin", v1)
        let state = feed.dir.path("state")
        _ = try feed.agentJSON("init", state, ["--feed", feed.feedURL, "--install-path", installPath, "--installed-version", "1.0.0"])
        // Kill it at different moments; each time the state stays consistent.
        for delay in [0.15, 0.3, 0.6] {
            let process = Process()
            process.executableURL = CommandRunner.binary
            process.arguments = ["agent", "download", "--state", state]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            Thread.sleep(forTimeInterval: delay)
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            #expect(try Self.consistent(feed, state, installPath, versions: versions) == "1.0.0")
        }
        let download = try feed.agentJSON("download", state)
        #expect(["downloaded", "already-downloaded"].contains(download["status"] as? String))
        _ = try feed.agentJSON("install", state)
        #expect(try Self.consistent(feed, state, installPath, versions: versions) == "1.1.0")
    }
}
