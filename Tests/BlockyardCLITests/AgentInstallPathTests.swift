import BlockyardTestSupport
import Foundation
import Testing

/// `install_path` is checked in one place: `agent init` and `agent configure` refuse the same
/// paths with the same messages, and a configured path can only move with the installed version.
@Suite("agent install path")
struct AgentInstallPathTests {
    @Test func configureChecksInstallPathsAsInitDoes() throws {
        let feed = try AgentFeed("agent-install-path")
        let v1 = AgentVersions.base(200_000)
        try feed.publish("1.0.0", [("app.bin", v1)])
        try feed.serve()
        let installPath = try feed.write("app/app.bin", v1)
        let state = feed.dir.path("state")
        _ = try feed.agentJSON("init", state, ["--feed", feed.feedURL, "--install-path", installPath, "--installed-version", "1.0.0"])
        let directory = feed.dir.path("app")
        let link = feed.dir.path("app/link.bin")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: installPath)
        let cases: [(path: String, message: String)] = [
            ("/", "install_path: / is the root directory"),
            (directory, "install_path: \(directory) is a directory, but kind is file"),
            ("app/app.bin", "install_path: app/app.bin is not an absolute path"),
            (feed.dir.path("app/../app/app.bin"), "is not a normalized path"),
            (feed.dir.path("missing/app.bin"), "its directory \(feed.dir.path("missing")) does not exist"),
            (link, "install_path: \(link) is a symbolic link"),
            ("STATE/app.bin", "overlaps the agent's state directory"),
            ("", "install_path: a path is required"),
        ]
        let configBefore = AgentFeed.read(state + "/config.json")
        for (index, item) in cases.enumerated() {
            // STATE: the state directory of the command run.
            let other = feed.dir.path("init-\(index)")
            let configured = try feed.agent("configure", state, ["install_path=\(item.path.replacingOccurrences(of: "STATE", with: state))"])
            #expect(configured.status == 64, "configure \(item.path): exit \(configured.status)")
            #expect(configured.stderr.contains(item.message), "configure \(item.path): \(configured.stderr)")
            #expect(AgentFeed.read(state + "/config.json") == configBefore, "configure \(item.path) changed config.json")
            // init refuses the same path with the same message and creates nothing.
            let initialized = try feed.agent("init", other, ["--feed", feed.feedURL, "--install-path", feed.dir.path("fresh.bin"),
                                                             "--set", "install_path=\(item.path.replacingOccurrences(of: "STATE", with: other))"])
            #expect(initialized.status == 64, "init \(item.path): exit \(initialized.status)")
            #expect(initialized.stderr.contains(item.message), "init \(item.path): \(initialized.stderr)")
            #expect(!FileManager.default.fileExists(atPath: other), "init \(item.path) left \(other) behind")
        }
        // --install-path itself is resolved, then checked the same way.
        let root = try feed.agent("init", feed.dir.path("init-root"), ["--feed", feed.feedURL, "--install-path", "/"])
        #expect(root.status == 64)
        #expect(root.stderr.contains("install_path: / is the root directory"))
        let bundleOnFile = try feed.agent("init", feed.dir.path("init-kind"), ["--feed", feed.feedURL, "--install-path", installPath,
                                                                                "--kind", "bundle", "--installed-version", "1.0.0"])
        #expect(bundleOnFile.status == 64)
        #expect(bundleOnFile.stderr.contains("install_path: \(installPath) is a file, but kind is bundle"))

        // Moving the installed file: the new path must hold the installed version.
        let moved = feed.dir.path("moved/app.bin")
        try FileManager.default.createDirectory(atPath: feed.dir.path("moved"), withIntermediateDirectories: true)
        let stranger = try feed.write("moved/other.bin", AgentVersions.edit(v1, at: 10, count: 10, seed: 5))
        let notIt = try feed.agent("configure", state, ["install_path=\(stranger)"])
        #expect(notIt.status == 64)
        #expect(notIt.stderr.contains("does not hold the installed version 1.0.0"), "\(notIt.stderr)")
        let absent = try feed.agent("configure", state, ["install_path=\(moved)"])
        #expect(absent.status == 64)
        #expect(absent.stderr.contains("does not exist, but 1.0.0 is installed"), "\(absent.stderr)")
        #expect(AgentFeed.read(state + "/config.json") == configBefore)
        try FileManager.default.moveItem(atPath: installPath, toPath: moved)
        let configured = try feed.agentJSON("configure", state, ["install_path=\(moved)"])
        #expect(configured["install_path"] as? String == moved)
        #expect(AgentFeed.installedVersion(try feed.status(state)) == "1.0.0")
    }
}
