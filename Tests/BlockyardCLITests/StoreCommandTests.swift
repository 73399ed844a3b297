import BlockyardCore
import BlockyardTestSupport
import Foundation
import Testing

/// `blockyard store …` run as a subprocess, as users and scripts run it.
@Suite("blockyard store (CLI)")
struct StoreCommandTests {
    // MARK: Helpers

    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
        var stdoutBytes: [UInt8]
    }

    static func store(_ args: [String], path: String, environment: [String: String] = [:]) throws -> Output {
        try run(["store"] + args + ["--path", path], environment: environment)
    }

    /// Runs `blockyard args…` with its output going to files: megabytes of binary output
    /// through CommandRunner's pipes take seconds each in debug builds.
    static func run(_ args: [String], environment: [String: String] = [:], currentDirectory: String? = nil) throws -> Output {
        let dir = try TemporaryDirectory("store-run")
        _ = FileManager.default.createFile(atPath: dir.path("out"), contents: nil)
        _ = FileManager.default.createFile(atPath: dir.path("err"), contents: nil)
        let out = try FileHandle(forWritingTo: dir.url.appendingPathComponent("out"))
        let err = try FileHandle(forWritingTo: dir.url.appendingPathComponent("err"))
        let process = Process()
        process.executableURL = CommandRunner.binary
        process.arguments = args
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        if let currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = out
        process.standardError = err
        try process.run()
        process.waitUntilExit()
        try out.close()
        try err.close()
        // Copied through raw buffers: generic Data conversions crawl in debug builds.
        let stdout = try Data(contentsOf: dir.url.appendingPathComponent("out")).withUnsafeBytes { [UInt8]($0) }
        let stderr = try Data(contentsOf: dir.url.appendingPathComponent("err")).withUnsafeBytes { [UInt8]($0) }
        return Output(status: process.terminationStatus, stdout: stdout.count <= 1 << 20 ? String(decoding: stdout, as: UTF8.self) : "",
                      stderr: String(decoding: stderr, as: UTF8.self), stdoutBytes: stdout)
    }

    static func json(_ output: Output) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any], "not JSON: \(output.stdout)")
    }

    /// Byte equality through memcmp (Array's == compares element by element in debug builds).
    static func same(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.count == b.count && a.withUnsafeBytes { x in b.withUnsafeBytes { y in a.isEmpty || memcmp(x.baseAddress!, y.baseAddress!, a.count) == 0 } }
    }

    /// Starts `blockyard args…` without waiting for it.
    static func spawn(_ args: [String]) throws -> Process {
        let p = Process()
        p.executableURL = CommandRunner.binary
        p.arguments = args
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    static func initialized(_ dir: TemporaryDirectory) throws -> String {
        let path = dir.path("store")
        let r = try store(["init"], path: path)
        #expect(r.status == 0, "\(r.stderr)")
        return path
    }

    /// A deterministic generator for kill delays (seeded, so failures can be replayed).
    struct SplitMix {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
    }

    // MARK: Basic flow

    @Test func addCatLsStatsBlockmapRmGc() throws {
        let dir = try TemporaryDirectory("store-cli")
        let path = try Self.initialized(dir)
        let v1 = VectorInputs.randomBytes(seed: 1, count: 1_500_000)
        let v2 = Array(v1[0..<700_000]) + VectorInputs.randomBytes(seed: 2, count: 50_000) + Array(v1[700_000...])
        let f1 = try dir.write("app-1.bin", v1), f2 = try dir.write("app-2.bin", v2)

        let a1 = try Self.store(["add", f1, "--name", "app", "--version", "1.0", "--json"], path: path)
        #expect(a1.status == 0, "\(a1.stderr)")
        let j1 = try Self.json(a1)
        #expect(j1["newBytes"] as? Int == 1_500_000 && j1["size"] as? Int == 1_500_000)
        #expect(j1["sha256"] as? String == SHA2Hasher.hash(.sha256, v1).hex)
        let a2 = try Self.store(["add", f2, "--name", "app", "--version", "2.0", "--json"], path: path)
        let j2 = try Self.json(a2)
        let newBytes = try #require(j2["newBytes"] as? Int)
        #expect(newBytes >= 50_000 && newBytes < 50_000 + 3 * 32768)
        let storeTotals = try #require(j2["store"] as? [String: Any])
        #expect(storeTotals["logicalBytes"] as? Int == 3_050_000 && storeTotals["versions"] as? Int == 2)

        // Human output names the new bytes and the ratio.
        let a3 = try Self.store(["add", f2, "--name", "app", "--version", "2.0-copy"], path: path)
        #expect(a3.stdout.contains("stored app@2.0-copy") && a3.stdout.contains("new:   0 B"))

        let cat = try Self.store(["cat", "app@2.0"], path: path)
        #expect(cat.status == 0 && Self.same(cat.stdoutBytes, v2))

        let ls = try Self.store(["ls", "--json"], path: path)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(ls.stdout.utf8)) as? [[String: Any]])
        #expect(rows.map { "\($0["name"]!)@\($0["version"]!)" } == ["app@1.0", "app@2.0", "app@2.0-copy"])
        let members = try Self.store(["ls", "app@1.0"], path: path)
        #expect(members.status == 0 && members.stdout.contains("app-1.bin"))

        let stats = try Self.json(try Self.store(["stats", "--json"], path: path))
        #expect(stats["logicalBytes"] as? Int == 4_600_000)
        #expect(stats["physicalBytes"] as? Int == 1_500_000 + newBytes)

        // The blockmap from the manifest is byte-identical to `blockyard blockmap` of the file.
        for compat in ["electron-builder", "app-builder"] {
            let fromStore = try Self.store(["blockmap", "app@2.0", "--output", dir.path("s.blockmap"), "--compat", compat], path: path)
            let direct = try Self.run(["blockmap", "--input", f2, "--output", dir.path("d.blockmap"), "--compat", compat])
            #expect(fromStore.status == 0 && fromStore.stdout == direct.stdout, "\(fromStore.stderr)")
            let a = try BlockmapCodec.decodeGzip(Array(try Data(contentsOf: URL(fileURLWithPath: dir.path("s.blockmap")))))
            let b = try BlockmapCodec.decodeGzip(Array(try Data(contentsOf: URL(fileURLWithPath: dir.path("d.blockmap")))))
            #expect(a.json == b.json)
        }
        let printed = try Self.store(["blockmap", "app@1.0"], path: path)
        #expect(printed.stdout.hasPrefix(#"{"version":"2","files":[{"name":"file","offset":0,"checksums":["#))

        let rm = try Self.store(["rm", "app@1.0", "--json"], path: path)
        #expect(rm.status == 0, "\(rm.stderr)")
        let removed = try #require(try JSONSerialization.jsonObject(with: Data(rm.stdout.utf8)) as? [[String: Any]])
        let released = try #require(removed.first?["releasedBytes"] as? Int)
        #expect(released > 0 && released < 200_000)
        let gc = try Self.json(try Self.store(["gc", "--json"], path: path))
        #expect(gc["removedBytes"] as? Int == released)
        let verify = try Self.store(["verify", "--full"], path: path)
        #expect(verify.status == 0 && verify.stdout.hasPrefix("OK:"), "\(verify.stdout)")
        #expect(try Self.store(["cat", "app@1.0"], path: path).status == 66)
        #expect(Self.same(try Self.store(["cat", "app@2.0-copy"], path: path).stdoutBytes, v2))
    }

    @Test func directoryExportAndMembers() throws {
        let dir = try TemporaryDirectory("store-cli")
        let path = try Self.initialized(dir)
        try FileManager.default.createDirectory(atPath: dir.path("rel/sub"), withIntermediateDirectories: true)
        try dir.write("rel/app.asar", VectorInputs.randomBytes(seed: 5, count: 300_000))
        try dir.write("rel/sub/LICENSE", Array("MIT\n".utf8))
        let add = try Self.store(["add", dir.path("rel"), "--name", "bundle", "--version", "1"], path: path)
        #expect(add.status == 0 && add.stdout.contains("directory, 2 files"), "\(add.stdout)\(add.stderr)")
        let needsMember = try Self.store(["cat", "bundle@1"], path: path)
        #expect(needsMember.status == 64 && needsMember.stderr.contains("--member"))
        let member = try Self.store(["cat", "bundle@1", "--member", "sub/LICENSE"], path: path)
        #expect(member.stdout == "MIT\n")
        #expect(try Self.store(["cat", "bundle@1", "--member", "nope"], path: path).status == 66)
        let export = try Self.store(["export", "bundle@1", dir.path("out")], path: path)
        #expect(export.status == 0, "\(export.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.path("out/app.asar"))) == Data(VectorInputs.randomBytes(seed: 5, count: 300_000)))
        let again = try Self.store(["export", "bundle@1", dir.path("out")], path: path)
        #expect(again.status == 73 && again.stderr.contains("--force"))
        #expect(try Self.store(["export", "bundle@1", dir.path("out"), "--force"], path: path).status == 0)
    }

    @Test func defaultPathAndEnvironment() throws {
        let dir = try TemporaryDirectory("store-cli")
        let r = try Self.run(["store", "init"], environment: ["BLOCKYARD_STORE": ""], currentDirectory: dir.url.path)
        #expect(r.status == 0)
        #expect(FileManager.default.fileExists(atPath: dir.path(".blockyard/store/data.mdb")))
        let env = try Self.run(["store", "init"], environment: ["BLOCKYARD_STORE": dir.path("from-env")], currentDirectory: dir.url.path)
        #expect(env.status == 0 && FileManager.default.fileExists(atPath: dir.path("from-env/data.mdb")))
        let again = try Self.run(["store", "init", "--json"], environment: ["BLOCKYARD_STORE": dir.path("from-env")])
        #expect(try Self.json(again)["created"] as? Bool == false)
    }

    // MARK: Errors

    @Test func missingStoreIsNotCreatedByOtherCommands() throws {
        let dir = try TemporaryDirectory("store-cli")
        let file = try dir.write("f", [1, 2, 3])
        for args in [["ls"], ["add", file, "--name", "f", "--version", "1"], ["verify"], ["gc"]] {
            let r = try Self.store(args, path: dir.path("none"))
            #expect(r.status == 66, "\(args)")
            #expect(r.stderr.contains("no store at \(dir.path("none"))") && r.stderr.contains("store init"))
        }
        #expect(!FileManager.default.fileExists(atPath: dir.path("none")))
        try FileManager.default.createDirectory(atPath: dir.path("plain"), withIntermediateDirectories: true)
        try dir.write("plain/file.txt", [1])
        let foreign = try Self.store(["init"], path: dir.path("plain"))
        #expect(foreign.status == 65 && foreign.stderr.contains("not empty"))
        let bad = try Self.store(["cat", "no-version"], path: dir.path("plain"))
        #expect(bad.status == 64)
    }

    @Test func lockedStoreFailsClearlyOrWaits() throws {
        let dir = try TemporaryDirectory("store-cli")
        let path = try Self.initialized(dir)
        let file = try dir.write("f", VectorInputs.randomBytes(seed: 9, count: 200_000))
        #expect(try Self.store(["add", file, "--name", "f", "--version", "1"], path: path).status == 0)
        // Hold the writer lock as another writer would.
        let fd = open(path + "/write.lock", O_RDWR)
        #expect(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
        let note = "pid 4242, store add other@1, since earlier\n"
        _ = note.withCString { pwrite(fd, $0, strlen($0), 0) }
        let locked = try Self.store(["add", file, "--name", "f", "--version", "2"], path: path)
        #expect(locked.status == 75)
        #expect(locked.stderr.contains("locked by another writer (pid 4242, store add other@1"), "\(locked.stderr)")
        #expect(try Self.store(["gc"], path: path).status == 75)
        // Readers are never blocked.
        #expect(Self.same(try Self.store(["cat", "f@1"], path: path).stdoutBytes, VectorInputs.randomBytes(seed: 9, count: 200_000)))
        #expect(try Self.store(["verify"], path: path).status == 0)
        // --wait blocks until the lock is released, then succeeds.
        let waiting = try Self.spawn(["store", "add", file, "--name", "f", "--version", "2", "--wait", "--path", path])
        usleep(400_000)
        #expect(waiting.isRunning)
        flock(fd, LOCK_UN)
        close(fd)
        waiting.waitUntilExit()
        #expect(waiting.terminationStatus == 0)
        #expect(try Self.store(["ls", "f@2"], path: path).status == 0)
    }

    @Test func corruptionOnDiskIsDetected() throws {
        let dir = try TemporaryDirectory("store-cli")
        let path = try Self.initialized(dir)
        let data = VectorInputs.randomBytes(seed: 77, count: 600_000)
        #expect(try Self.store(["add", try dir.write("f", data), "--name", "f", "--version", "1"], path: path).status == 0)
        // Flip one byte of the stored chunk data inside data.mdb (bit rot).
        let mdb = Array(try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb")))
        let needle = Array(data[300_000..<300_064])
        let at: Int? = mdb.withUnsafeBytes { hay in
            needle.withUnsafeBytes { n in
                var from = 0
                while from + n.count <= hay.count,
                      let hit = memchr(hay.baseAddress! + from, Int32(needle[0]), hay.count - from - n.count + 1) {
                    let i = UnsafeRawPointer(hit) - hay.baseAddress!
                    if memcmp(hit, n.baseAddress!, n.count) == 0 { return i }
                    from = i + 1
                }
                return nil
            }
        }
        let offset = try #require(at, "chunk bytes not found in data.mdb")
        let fd = open(path + "/data.mdb", O_WRONLY)
        var flipped = mdb[offset + 10] ^ 0x01
        #expect(pwrite(fd, &flipped, 1, off_t(offset + 10)) == 1)
        close(fd)

        let verify = try Self.store(["verify"], path: path)
        #expect(verify.status == 1)
        #expect(verify.stdout.contains("PROBLEM: chunk") && verify.stdout.contains("corrupted"), "\(verify.stdout)")
        let json = try Self.json(try Self.store(["verify", "--json"], path: path))
        #expect(json["ok"] as? Bool == false)
        let cat = try Self.store(["cat", "f@1"], path: path)
        #expect(cat.status == 1 && cat.stderr.contains("SHA-512"), "\(cat.stderr)")
        let export = try Self.store(["export", "f@1", dir.path("out")], path: path)
        #expect(export.status == 1)
        // Nothing unverified is left behind by export.
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: dir.path("out"))) ?? []).isEmpty)
    }

    // MARK: Reliability

    /// kill -9 during `store add` at random moments, at least 20 times. After each kill the
    /// store verifies (no manifest points at a missing chunk, every reference count is
    /// right, every chunk hashes to its key), a version that got committed reads back
    /// exactly, and the retried add succeeds. The version is then removed and collected, so
    /// each round starts from the same small store.
    @Test func killNineDuringAddLeavesAConsistentStore() throws {
        let dir = try TemporaryDirectory("store-crash")
        let path = try Self.initialized(dir)
        let shared = VectorInputs.randomBytes(seed: 500, count: 512 << 10)
        #expect(try Self.store(["add", try dir.write("base", shared), "--name", "base", "--version", "1"], path: path).status == 0)
        // Half a MiB already stored, 3 MiB new: with 1 MiB batches, three chunk transactions
        // come before the manifest's.
        func add(_ file: String, _ version: Int) -> [String] {
            ["store", "add", file, "--name", "crash", "--version", "\(version)", "--batch-mib", "1", "--path", path]
        }

        // How long one add takes here (debug build, shared machine): the fastest of three.
        let calibration = try dir.write("calibration", shared + VectorInputs.randomBytes(seed: 599, count: 3 << 20))
        var duration = Double.infinity
        for _ in 0..<3 {
            let started = Date()
            let full = try Self.spawn(add(calibration, 999))
            full.waitUntilExit()
            #expect(full.terminationStatus == 0)
            duration = min(duration, Date().timeIntervalSince(started))
            #expect(try Self.store(["rm", "crash@999"], path: path).status == 0)
            #expect(try Self.store(["gc"], path: path).status == 0)
        }

        var rng = SplitMix(state: 0xB10C_4A2D)
        var killed = 0, finished = 0, partial = 0, committed = 0, round = 0
        // Kill moments spread over the add, past the first fifth (process start-up).
        // The machine's speed varies (CI, other processes): whenever an add finishes before
        // its kill, the estimate shrinks so later kills land inside the add.
        while (killed < 20 || partial == 0) && round < 120 {
            let input = shared + VectorInputs.randomBytes(seed: 600 + UInt64(round), count: 3 << 20)
            let file = try dir.write("v\(round)", input)
            let process = try Self.spawn(add(file, round))
            usleep(UInt32((0.2 + 0.8 * rng.unit()) * duration * 1_000_000))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            if process.terminationReason == .uncaughtSignal {
                killed += 1
            } else {
                finished += 1
                duration *= 0.8
            }

            let verify = try Self.store(["verify", "--json"], path: path)
            let report = try Self.json(verify)
            #expect(verify.status == 0 && report["ok"] as? Bool == true, "round \(round): \(verify.stdout)")
            if report["unreferencedChunks"] as? Int ?? 0 > 0 { partial += 1 }
            if try Self.store(["ls", "crash@\(round)"], path: path).status == 0 {
                committed += 1
                #expect(Self.same(try Self.store(["cat", "crash@\(round)"], path: path).stdoutBytes, input))
            }
            let retry = try Self.store(["add", file, "--name", "crash", "--version", "\(round)"], path: path)
            #expect(retry.status == 0, "retry \(round): \(retry.stderr)")
            #expect(Self.same(try Self.store(["cat", "crash@\(round)"], path: path).stdoutBytes, input))
            #expect(try Self.store(["rm", "crash@\(round)"], path: path).status == 0)
            #expect(try Self.store(["gc"], path: path).status == 0)
            round += 1
        }
        let summary = "\(killed) killed, \(finished) finished first, \(partial) left chunks without a manifest, \(committed) committed before the kill"
        #expect(killed >= 20, "\(summary)")
        #expect(partial > 0, "no kill landed between a chunk batch and the manifest: \(summary)")
        let clean = try Self.json(try Self.store(["verify", "--json"], path: path))
        #expect(clean["ok"] as? Bool == true && clean["unreferencedChunks"] as? Int == 0 && clean["manifests"] as? Int == 1)
        #expect(Self.same(try Self.store(["cat", "base@1"], path: path).stdoutBytes, shared))
    }

    /// `store cat` while `store add` commits batch after batch: every read is complete and
    /// exact, whether or not the new version is visible yet.
    @Test func catDuringAddIsConsistent() throws {
        let dir = try TemporaryDirectory("store-concurrent")
        let path = try Self.initialized(dir)
        let v1 = VectorInputs.randomBytes(seed: 800, count: 2 << 20)
        let v2 = v1 + VectorInputs.randomBytes(seed: 801, count: 10 << 20)
        #expect(try Self.store(["add", try dir.write("v1", v1), "--name", "m", "--version", "1"], path: path).status == 0)
        let adding = try Self.spawn(["store", "add", try dir.write("v2", v2), "--name", "m", "--version", "2",
                                     "--batch-mib", "1", "--path", path])
        var readsDuringAdd = 0
        while adding.isRunning {
            readsDuringAdd += 1
            let cat = try Self.store(["cat", "m@1"], path: path)
            #expect(cat.status == 0 && Self.same(cat.stdoutBytes, v1))
            // The new version appears all at once: if listed, it reads back whole.
            if try Self.store(["ls", "m@2"], path: path).status == 0 {
                #expect(Self.same(try Self.store(["cat", "m@2"], path: path).stdoutBytes, v2))
            }
        }
        adding.waitUntilExit()
        #expect(adding.terminationStatus == 0)
        #expect(readsDuringAdd >= 1)
        #expect(Self.same(try Self.store(["cat", "m@2"], path: path).stdoutBytes, v2))
        #expect(try Self.store(["verify"], path: path).status == 0)
    }

    @Test func safetensorsAwareCutsAndExactBlockmap() throws {
        let dir = try TemporaryDirectory("store-cli")
        let path = try Self.initialized(dir)
        // A minimal safetensors file: two tensors.
        let t0 = VectorInputs.randomBytes(seed: 901, count: 100_000), t1 = VectorInputs.randomBytes(seed: 902, count: 90_000)
        var header = Array(#"{"a":{"dtype":"U8","shape":[100000],"data_offsets":[0,100000]},"b":{"dtype":"U8","shape":[90000],"data_offsets":[100000,190000]}}"#.utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        var file: [UInt8] = []
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { file += $0 }
        file += header + t0 + t1
        let input = try dir.write("m.safetensors", file)
        #expect(try Self.store(["add", input, "--name", "m", "--version", "1"], path: path).status == 0)
        let ls = try Self.run(["store", "ls", "m@1", "--json", "--path", path])
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(ls.stdout.utf8)) as? [[String: Any]])
        #expect(rows.first?["boundaries"] as? String == "safetensors")
        #expect((rows.first?["forcedCuts"] as? Int ?? 0) > 0)
        let fromManifest = try Self.store(["blockmap", "m@1"], path: path)
        #expect(fromManifest.stderr.contains("tensor-aware cuts"))
        let exact = try Self.store(["blockmap", "m@1", "--from-data", "-o", dir.path("exact.blockmap")], path: path)
        let direct = try Self.run(["blockmap", "--input", input, "--output", dir.path("direct.blockmap")])
        #expect(exact.stdout == direct.stdout)
        let a = try BlockmapCodec.decodeGzip(Array(try Data(contentsOf: URL(fileURLWithPath: dir.path("exact.blockmap")))))
        let b = try BlockmapCodec.decodeGzip(Array(try Data(contentsOf: URL(fileURLWithPath: dir.path("direct.blockmap")))))
        #expect(a == b)
        // --no-aware stores plain content-defined chunks: the manifest blockmap is exact.
        #expect(try Self.store(["add", input, "--name", "m", "--version", "plain", "--no-aware"], path: path).status == 0)
        let plain = try Self.store(["blockmap", "m@plain"], path: path)
        #expect(plain.stderr.isEmpty && plain.stdout.trimmingCharacters(in: .newlines) == b.json)
    }

    @Test func addRefusesATarThatExportCouldNotRebuild() throws {
        let dir = try TemporaryDirectory("store-cli")
        let path = try Self.initialized(dir)
        // A symbolic link `link`, then a member `link/x` (from another tree) in the same tar.
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir.path("a"), withIntermediateDirectories: true)
        try fm.createDirectory(atPath: dir.path("b/link"), withIntermediateDirectories: true)
        try fm.createSymbolicLink(atPath: dir.path("a/link"), withDestinationPath: "/tmp")
        try dir.write("b/link/x", Array("through the link".utf8))
        let tar = dir.path("conflict.tar")
        for args in [["-cf", tar, "-C", dir.path("a"), "link"], ["-rf", tar, "-C", dir.path("b"), "link/x"]] {
            let tarProcess = try Process.run(URL(fileURLWithPath: "/usr/bin/tar"), arguments: args)
            tarProcess.waitUntilExit()
            #expect(tarProcess.terminationStatus == 0)
        }
        let add = try Self.store(["add", tar, "--name", "bad", "--version", "1"], path: path)
        #expect(add.status == 65, "\(add.stderr)")
        #expect(add.stderr.contains(#""link" (a symbolic link) and "link/x" conflict"#), "\(add.stderr)")
        let ls = try Self.store(["ls", "--json"], path: path)
        #expect(ls.status == 0)
        let rows = try JSONSerialization.jsonObject(with: Data(ls.stdout.utf8)) as? [Any]
        #expect(rows?.isEmpty == true, "\(ls.stdout)")
        #expect(try Self.store(["verify"], path: path).status == 0)
    }

    @Test func addOnAFullDiskSaysNoSpaceLeftAndExits74() throws {
        if let reason = TinyFilesystem.unavailableReason { try Test.cancel(Comment(rawValue: "skipped: \(reason)")) }
        let disk = try TinyFilesystem(bytes: 4 << 20)
        defer { disk.unmount() }
        let dir = try TemporaryDirectory("store-cli")
        let path = disk.path + "/store"
        #expect(try Self.store(["init"], path: path).status == 0)
        let big = try dir.write("big", VectorInputs.randomBytes(seed: 90, count: 8 << 20))
        let add = try Self.store(["add", big, "--name", "big", "--version", "1"], path: path)
        #expect(add.status == 74, "\(add.stderr)")
        #expect(add.stderr.contains("no space left on device"), "\(add.stderr)")
        #expect(!add.stderr.contains("Input/output error"))
        let verify = try Self.store(["verify"], path: path)
        #expect(verify.status == 0, "\(verify.stdout) \(verify.stderr)")
    }
}
