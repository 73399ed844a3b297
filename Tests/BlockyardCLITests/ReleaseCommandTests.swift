import BlockyardCore
import BlockyardTestSupport
import Foundation
import Testing

@Suite("blockyard release and key")
struct ReleaseCommandTests {
    /// `yaml.safe_load` of a file, as JSON.
    func safeLoad(_ path: String) throws -> [String: Any] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import sys, yaml, json; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))", path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0)
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func json(_ output: CommandRunner.Output) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any])
    }

    @Test func createVerifyStagePromote() throws {
        let dir = try TemporaryDirectory("release-cli")
        let cwd = dir.url.path
        try dir.write("MyApp Setup 1.0.0.exe", VectorInputs.randomBytes(seed: 1, count: 2_000_000))
        try dir.write("MyApp-1.0.0-arm64-mac.zip", VectorInputs.randomBytes(seed: 2, count: 500_000))

        let key = try CommandRunner.run(["key", "generate", "--out", "k.key", "--json"], currentDirectory: cwd)
        #expect(key.status == 0, "\(key.stderr)")
        #expect((try json(key)["publicKey"] as? String)?.count == 44)
        var st = stat()
        #expect(stat(dir.path("k.key"), &st) == 0 && st.st_mode & 0o777 == 0o600)
        #expect(try CommandRunner.run(["key", "generate", "--out", "k.key"], currentDirectory: cwd).status == 73)

        let created = try CommandRunner.run(["release", "create", "--version", "1.0.0", "--out", "site", "--sign", "k.key",
                                             "--release-notes", "First: yes", "--json",
                                             "MyApp Setup 1.0.0.exe", "MyApp-1.0.0-arm64-mac.zip"], currentDirectory: cwd)
        #expect(created.status == 0, "\(created.stderr)")
        let result = try json(created)
        #expect((result["channelFiles"] as? [[String: Any]])?.count == 6)

        // The channel file reads back in Python with electron-builder's fields and formats.
        let latest = try safeLoad(dir.path("site/latest.yml"))
        let hashed = try CommandRunner.run(["hash", "--json", dir.path("MyApp Setup 1.0.0.exe")])
        let sha512 = try #require((try JSONSerialization.jsonObject(with: Data(hashed.stdout.utf8)) as? [[String: Any]])?.first?["sha512"] as? String)
        #expect(latest["version"] as? String == "1.0.0")
        #expect(latest["path"] as? String == "releases/1.0.0/MyApp Setup 1.0.0.exe")
        #expect(latest["sha512"] as? String == sha512)
        #expect(latest["releaseNotes"] as? String == "First: yes")
        let files = try #require(latest["files"] as? [[String: Any]])
        #expect(files.count == 1)
        #expect(files[0]["size"] as? Int == 2_000_000)
        #expect(files[0]["sha512"] as? String == sha512)
        let date = try #require(latest["releaseDate"] as? String)
        #expect(date.count == 24 && date.hasSuffix("Z") && date.contains("."))
        #expect(String(decoding: try Data(contentsOf: URL(fileURLWithPath: dir.path("site/latest.yml"))), as: UTF8.self).contains("releaseDate: '"))
        #expect(try safeLoad(dir.path("site/beta-mac.yml"))["version"] as? String == "1.0.0")

        // SHA256SUMS is what `sha256sum -c` expects, and `blockyard hash --check` agrees.
        let gnu = Process()
        gnu.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        gnu.arguments = ["-c", "--quiet", "SHA256SUMS"]
        gnu.currentDirectoryURL = URL(fileURLWithPath: dir.path("site/releases/1.0.0"))
        try gnu.run()
        gnu.waitUntilExit()
        #expect(gnu.terminationStatus == 0)
        #expect(try CommandRunner.run(["hash", "--check", "SHA256SUMS"], currentDirectory: dir.path("site/releases/1.0.0")).status == 0)

        // Verification: valid, tampered, wrong key.
        let ok = try CommandRunner.run(["release", "verify", "site/latest.yml", "--public-key", "k.key.pub", "--state", "seen.json"], currentDirectory: cwd)
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.hasPrefix("latest.yml: OK, version 1.0.0"))
        try FileManager.default.copyItem(atPath: dir.path("site/latest.yml"), toPath: dir.path("old.yml"))
        try FileManager.default.copyItem(atPath: dir.path("site/latest.yml.sig"), toPath: dir.path("old.yml.sig"))
        var tampered = try Data(contentsOf: URL(fileURLWithPath: dir.path("site/latest.yml")))
        tampered[tampered.count / 2] ^= 0x20
        try tampered.write(to: URL(fileURLWithPath: dir.path("tampered.yml")))
        let bad = try CommandRunner.run(["release", "verify", "tampered.yml", "--name", "latest.yml", "--signature", "site/latest.yml.sig",
                                         "--public-key", "k.key.pub"], currentDirectory: cwd)
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("bad signature"))
        #expect(try CommandRunner.run(["key", "generate", "--out", "other.key"], currentDirectory: cwd).status == 0)
        let wrongKey = try CommandRunner.run(["release", "verify", "site/latest.yml", "--public-key", "other.key.pub", "--json"], currentDirectory: cwd)
        #expect(wrongKey.status == 1)
        #expect(try json(wrongKey)["verified"] as? Bool == false)
        let unsigned = try CommandRunner.run(["release", "verify", "site/releases/1.0.0/release.json", "--public-key", "k.key.pub"], currentDirectory: cwd)
        #expect(unsigned.status == 1)
        #expect(unsigned.stderr.contains("not signed"))

        // A newer release, then a replay of the old metadata: rejected by the rollback check.
        try dir.write("MyApp Setup 1.1.0.exe", VectorInputs.randomBytes(seed: 3, count: 100_000))
        #expect(try CommandRunner.run(["release", "create", "--version", "1.1.0", "--out", "site", "--sign", "k.key", "MyApp Setup 1.1.0.exe"],
                                      currentDirectory: cwd).status == 0)
        #expect(try CommandRunner.run(["release", "verify", "site/latest.yml", "--public-key", "k.key.pub", "--state", "seen.json"],
                                      currentDirectory: cwd).status == 0)
        let replay = try CommandRunner.run(["release", "verify", "old.yml", "--name", "latest.yml", "--public-key", "k.key.pub", "--state", "seen.json"],
                                           currentDirectory: cwd)
        #expect(replay.status == 1)
        #expect(replay.stderr.contains("older than 1.1.0"))

        // Staging: whole numbers only; signed files need the key.
        let fraction = try CommandRunner.run(["release", "stage", "--dir", "site", "--channel", "latest", "--percent", "12.5"], currentDirectory: cwd)
        #expect(fraction.status == 64)
        #expect(fraction.stderr.contains("parseInt"))
        #expect(try CommandRunner.run(["release", "stage", "--dir", "site", "--channel", "latest", "--percent", "25"], currentDirectory: cwd).status == 64)
        let staged = try CommandRunner.run(["release", "stage", "--dir", "site", "--channel", "latest", "--percent", "25", "--sign", "k.key", "--json"],
                                           currentDirectory: cwd)
        #expect(staged.status == 0, "\(staged.stderr)")
        #expect(try safeLoad(dir.path("site/latest.yml"))["stagingPercentage"] as? Int == 25)
        #expect(try safeLoad(dir.path("site/latest-mac.yml"))["stagingPercentage"] as? Int == 25)
        #expect(try safeLoad(dir.path("site/beta.yml"))["stagingPercentage"] == nil)
        // Signed and staged: a signed fallback (1.0.0's channel file) for `serve --staged-rollout`.
        #expect(staged.stdout.contains(#""fallbackVersion" : "1.0.0""#))
        #expect(try safeLoad(dir.path("site/latest.yml.previous"))["version"] as? String == "1.0.0")
        let fallback = try CommandRunner.run(["release", "verify", "site/latest.yml.previous", "--name", "latest.yml",
                                              "--signature", "site/latest.yml.previous.sig", "--public-key", "k.key.pub"], currentDirectory: cwd)
        #expect(fallback.status == 0, "\(fallback.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.path("site/beta.yml.previous")), "beta is not staged")

        // Rollback: latest back to 1.0.0, accepted by the verifying client that saw 1.1.0.
        let promoted = try CommandRunner.run(["release", "promote", "--dir", "site", "--version", "1.0.0", "--channel", "latest", "--sign", "k.key"],
                                             currentDirectory: cwd)
        #expect(promoted.status == 0, "\(promoted.stderr)")
        #expect(promoted.stdout.contains("1.1.0 → 1.0.0"))
        let rolledBack = try safeLoad(dir.path("site/latest.yml"))
        #expect(rolledBack["version"] as? String == "1.0.0")
        #expect(rolledBack["stagingPercentage"] == nil)
        #expect(!FileManager.default.fileExists(atPath: dir.path("site/latest.yml.previous")), "not staged any more")
        #expect(!FileManager.default.fileExists(atPath: dir.path("site/latest.yml.previous.sig")))
        #expect(try CommandRunner.run(["release", "verify", "site/latest.yml", "--public-key", "k.key.pub", "--state", "seen.json"],
                                      currentDirectory: cwd).status == 0)
        let missing = try CommandRunner.run(["release", "promote", "--dir", "site", "--version", "9.0.0", "--channel", "latest"], currentDirectory: cwd)
        #expect(missing.status == 66)
    }

    /// Issue #20 item 2: `release verify URL` reads the channel file and its signature as
    /// `update` does, within 16 MiB and 64 KiB, and stops reading as soon as a body passes
    /// that (an endless body grew the process to 8.6 GB before).
    @Test func verifyOverHTTPReadsWithinTheLimits() throws {
        let dir = try TemporaryDirectory("release-verify-http")
        let cwd = dir.url.path
        try dir.write("app.bin", VectorInputs.randomBytes(seed: 4, count: 100_000))
        #expect(try CommandRunner.run(["key", "generate", "--out", "k.key"], currentDirectory: cwd).status == 0)
        let created = try CommandRunner.run(["release", "create", "--version", "1.0.0", "--out", "site", "--sign", "k.key",
                                             "--platform", "linux", "app.bin"], currentDirectory: cwd)
        try #require(created.status == 0, "\(created.stderr)")
        let channel = Array(try Data(contentsOf: URL(fileURLWithPath: dir.path("site/latest-linux.yml"))))
        let signature = Array(try Data(contentsOf: URL(fileURLWithPath: dir.path("site/latest-linux.yml.sig"))))

        // /CASE/latest-linux.yml and its .sig, answered per case; "endless" bodies stop at
        // 256 MiB so that a client without a limit cannot hang the test.
        let server = try LoopbackHTTPServer { request, connection in
            let parts = request.path.split(separator: "/").map(String.init)
            guard parts.count == 2 else { connection.writeHead(404, ["Content-Length": "0"]); return 404 }
            let isSignature = parts[1].hasSuffix(".sig")
            func send(_ bytes: [UInt8]) -> Int {
                connection.writeHead(200, ["Content-Length": String(bytes.count)])
                connection.write(bytes)
                return 200
            }
            func endless(contentLength: Int?) -> Int {
                connection.writeHead(200, contentLength.map { ["Content-Length": String($0)] } ?? [:])
                let block = [UInt8](repeating: UInt8(ascii: "a"), count: 1 << 16)
                var sent = 0
                while sent < 256 << 20, connection.write(block) { sent += block.count }
                return 200
            }
            switch (parts[0], isSignature) {
            case ("endless", false): return endless(contentLength: nil)
            case ("endless-sig", true): return endless(contentLength: nil)
            case ("huge-sig", true): return endless(contentLength: 50_000_000)
            case (_, false): return send(channel)
            case (_, true): return send(signature)
            }
        }
        func verify(_ name: String) throws -> (CommandRunner.Output, seconds: Double, sent: Int) {
            let before = server.bytesSent
            let started = Date()
            let run = try CommandRunner.run(["release", "verify", "\(server.baseURL)/\(name)/latest-linux.yml",
                                             "--public-key", "k.key.pub"], currentDirectory: cwd)
            return (run, Date().timeIntervalSince(started), server.bytesSent - before)
        }

        let good = try verify("good")
        #expect(good.0.status == 0, "\(good.0.stderr)")
        #expect(good.0.stdout.hasPrefix("latest-linux.yml: OK, version 1.0.0"))

        for (name, message, most) in [("endless", "more than the 16777216 bytes accepted", 64 << 20),
                                      ("endless-sig", "more than the 65536 bytes accepted", 16 << 20),
                                      ("huge-sig", "is 50000000 bytes, more than the 65536 accepted", 16 << 20)] {
            let (run, seconds, sent) = try verify(name)
            #expect(run.status == 65, "\(name): exit \(run.status): \(run.stderr.prefix(500))")
            #expect(run.stderr.contains(message), "\(name): \(run.stderr.prefix(500))")
            #expect(seconds < 20, "\(name): \(seconds) s")
            // Socket buffers hold a few MB; a client reading on would take the full 256 MiB.
            #expect(sent < most, "\(name): the server sent \(sent) bytes")
            print("release verify \(name): exit \(run.status) after \(String(format: "%.2f", seconds)) s, \(sent) bytes sent by the server")
        }
        #expect(try verify("missing/x").0.status == 66)
    }

    @Test func createErrorsAndPlatformOverride() throws {
        let dir = try TemporaryDirectory("release-cli-errors")
        let cwd = dir.url.path
        try dir.write("bundle-1.0.0.tar.gz", VectorInputs.randomBytes(seed: 4, count: 10_000))
        let unknown = try CommandRunner.run(["release", "create", "--version", "1.0.0", "--out", "site", "bundle-1.0.0.tar.gz"], currentDirectory: cwd)
        #expect(unknown.status == 64)
        #expect(unknown.stderr.contains("--platform"))
        #expect(try CommandRunner.run(["release", "create", "--version", "v1.0.0", "--out", "site", "--platform", "linux", "bundle-1.0.0.tar.gz"],
                                      currentDirectory: cwd).status == 64)
        #expect(try CommandRunner.run(["release", "create", "--version", "1.0.0", "--out", "site", "nothing.exe"], currentDirectory: cwd).status == 66)
        let linux = try CommandRunner.run(["release", "create", "--version", "1.0.0", "--out", "site", "--platform", "linux", "--arch", "aarch64",
                                           "--no-fan-out", "bundle-1.0.0.tar.gz"], currentDirectory: cwd)
        #expect(linux.status == 0, "\(linux.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir.path("site/latest-linux-arm64.yml")))
        #expect(!FileManager.default.fileExists(atPath: dir.path("site/beta-linux-arm64.yml")))
        let help = try CommandRunner.run(["release", "create", "--help"])
        #expect(help.stdout.contains("EXAMPLES"))
    }
}
