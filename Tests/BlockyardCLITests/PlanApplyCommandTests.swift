import BlockyardCore
import BlockyardTestSupport
import Foundation
import Testing

/// `blockyard plan` and `blockyard apply` as subprocesses: output, exit codes, messages.
@Suite("blockyard plan / apply")
struct PlanApplyCommandTests {
    /// old.bin + old.blockmap, new.bin (the "server" copy) + new.blockmap.
    struct Files {
        let dir: TemporaryDirectory
        let old: [UInt8]
        let new: [UInt8]
        var oldPath: String { dir.path("old.bin") }
        var oldMap: String { dir.path("old.blockmap") }
        var newPath: String { dir.path("new.bin") }
        var newMap: String { dir.path("new.blockmap") }
        var sha512: String { SHA2Hasher.hash(.sha512, new).base64 }

        init() throws {
            dir = try TemporaryDirectory("blockyard-plan-cli")
            old = VectorInputs.randomBytes(seed: 21, count: 260_000)
            let fresh = VectorInputs.randomBytes(seed: 22, count: 120_000)
            new = Array(old[0..<70_000]) + fresh + Array(old[70_000...]) + fresh
            try dir.write("old.bin", old)
            try dir.write("new.bin", new)
            try dir.write("old.blockmap", BlockmapCodec.encodeGzip(old.withUnsafeBytes { BlockmapBuilder.build($0).blockmap }))
            try dir.write("new.blockmap", BlockmapCodec.encodeGzip(new.withUnsafeBytes { BlockmapBuilder.build($0).blockmap }))
        }

        func plan(_ extra: [String] = []) throws -> CommandRunner.Output {
            try CommandRunner.run(["plan", newMap, "--seed", oldPath, "--seed-blockmap", oldMap] + extra)
        }

        /// Writes `plan --json` to plan.json and returns its path.
        func writePlan(_ extra: [String] = []) throws -> String {
            let run = try plan(["--json"] + extra)
            #expect(run.status == 0, "\(run.stderr)")
            return try dir.write("plan.json", run.stdoutBytes)
        }
    }

    static func decode(_ output: CommandRunner.Output) throws -> DeltaPlan {
        try JSONDecoder().decode(DeltaPlan.self, from: Data(output.stdoutBytes))
    }

    @Test func humanSummary() throws {
        let f = try Files()
        let run = try f.plan()
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("new file    \(f.newMap): \(f.new.count) bytes"))
        #expect(run.stdout.contains("planner     blockyard: merge gaps <= 100 B, <= 500 ranges per request, <= 1000 operations"))
        #expect(run.stdout.contains("repeated within the new file"))
        #expect(run.stdout.contains("electron-updater would fetch"))
        #expect(run.stdout.contains("  fetch  "))
        #expect(run.stdout.contains("  duplicate  "))
        // An operation limit that forces fetching local bytes is flagged.
        let limited = try f.plan(["--max-ops", "1"])
        #expect(limited.status == 0, "\(limited.stderr)")
        #expect(limited.stdout.contains("operations  1: 0 copy, 1 fetch, 0 duplicate"))
        #expect(limited.stderr.contains("the operation limit (--max-ops 1) forced fetching"))
        let compat = try f.plan(["--compat", "electron-updater"])
        #expect(compat.status == 0, "\(compat.stderr)")
        #expect(compat.stdout.contains("planner     electron-updater computeOperations"))
    }

    @Test func jsonPlanAppliesAndBlockyardFetchesLess() throws {
        let f = try Files()
        let by = try Self.decode(try f.plan(["--json"]))
        let eu = try Self.decode(try f.plan(["--json", "--compat", "electron-updater"]))
        // The repeated block is fetched once by Blockyard, twice by electron-updater.
        #expect(by.totals.fetchBytes < eu.totals.fetchBytes)
        #expect(by.totals.duplicateBytes > 0 && eu.totals.duplicateBytes == 0)
        #expect(eu.mode == .electronUpdater && by.mode == .blockyard)
        for mode in [[], ["--compat", "electron-updater"]] {
            let planPath = try f.writePlan(mode)
            let out = f.dir.path("rebuilt.bin")
            let run = try CommandRunner.run(["apply", planPath, "--source", f.newPath, "--out", out,
                                             "--expect-sha512", f.sha512, "--size", String(f.new.count)])
            #expect(run.status == 0, "\(run.stderr)")
            #expect(run.stdout.contains("SHA-512 verified on disk"))
            #expect(Array(try Data(contentsOf: URL(fileURLWithPath: out))) == f.new)
            try FileManager.default.removeItem(atPath: out)
        }
        // --json report; hex digest accepted.
        let out = f.dir.path("rebuilt.bin")
        let run = try CommandRunner.run(["apply", try f.writePlan(), "--source", f.newPath, "--out", out,
                                         "--expect-sha512", SHA2Hasher.hash(.sha512, f.new).hex, "--json", "--verify-chunks"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("\"sha512\" : \"\(f.sha512.replacingOccurrences(of: "/", with: "\\/"))\"")
                || run.stdout.contains("\"sha512\" : \"\(f.sha512)\""))
    }

    @Test func seedWithoutBlockmapIsChunkedLocally() throws {
        let f = try Files()
        let withMap = try Self.decode(try f.plan(["--json"]))
        let local = try CommandRunner.run(["plan", f.newMap, "--seed", f.oldPath, "--json"])
        #expect(local.status == 0, "\(local.stderr)")
        let plan = try Self.decode(local)
        #expect(plan.operations == withMap.operations)
        #expect(plan.seeds[0].blockmap == nil && withMap.seeds[0].blockmap == f.oldMap)
        // Several seeds: an unrelated one first changes nothing in the bytes to fetch.
        let other = try f.dir.write("other.bin", VectorInputs.randomBytes(seed: 23, count: 50_000))
        let multi = try Self.decode(try CommandRunner.run(["plan", f.newMap, "--seed", f.oldPath, "--seed-blockmap", f.oldMap,
                                                           "--seed", other, "--json"]))
        #expect(multi.seeds.count == 2 && multi.totals.fetchBytes == withMap.totals.fetchBytes)
    }

    @Test func planUsageAndDataErrors() throws {
        let f = try Files()
        // Two seeds in electron-updater mode.
        let twoSeeds = try CommandRunner.run(["plan", f.newMap, "--seed", f.oldPath, "--seed", f.oldPath, "--compat", "electron-updater"])
        #expect(twoSeeds.status == 64)
        #expect(twoSeeds.stderr.contains("exactly one --seed"))
        #expect(try CommandRunner.run(["plan", f.newMap]).status == 64)
        #expect(try f.plan(["--max-ranges-per-request", "0"]).status == 64)
        // A seed blockmap made from another file (its sizes do not add up to the seed).
        let wrong = try CommandRunner.run(["plan", f.newMap, "--seed", f.oldPath, "--seed-blockmap", f.newMap])
        #expect(wrong.status == 65)
        #expect(wrong.stderr.contains("its blockmap describes \(f.new.count) bytes but the file is \(f.old.count) bytes"))
        // --size that the new blockmap does not add up to.
        let size = try f.plan(["--size", "12"])
        #expect(size.status == 65)
        #expect(size.stderr.contains("the new blockmap describes \(f.new.count) bytes but the new file is 12 bytes"))
        // Version "1" against "2": electron-updater refuses, Blockyard plans.
        var v1 = try BlockmapCodec.decodeGzip(Array(Data(contentsOf: URL(fileURLWithPath: f.oldMap))))
        v1.version = "1"
        let v1Path = try f.dir.write("old-v1.blockmap", BlockmapCodec.encodeGzip(v1))
        let refused = try CommandRunner.run(["plan", f.newMap, "--seed", f.oldPath, "--seed-blockmap", v1Path,
                                             "--compat", "electron-updater"])
        #expect(refused.status == 65)
        #expect(refused.stderr.contains("version is different (1 - 2), full download is required"))
        #expect(try CommandRunner.run(["plan", f.newMap, "--seed", f.oldPath, "--seed-blockmap", v1Path]).status == 0)
        // A version no electron-updater knows.
        v1.version = "3"
        let v3Path = try f.dir.write("old-v3.blockmap", BlockmapCodec.encodeGzip(v1))
        let v3 = try CommandRunner.run(["plan", f.newMap, "--seed", f.oldPath, "--seed-blockmap", v3Path])
        #expect(v3.status == 65)
        #expect(v3.stderr.contains("unsupported blockmap version \"3\""))
        // Missing inputs, and a blockmap that is plain JSON.
        #expect(try CommandRunner.run(["plan", f.dir.path("nope.blockmap"), "--seed", f.oldPath]).status == 66)
        let missingSeed = try CommandRunner.run(["plan", f.newMap, "--seed", f.dir.path("nope.bin")])
        #expect(missingSeed.status == 66)
        #expect(missingSeed.stderr.contains("nope.bin"))
        let plain = try f.dir.write("plain.blockmap", Array(v1.json.utf8))
        let notGzip = try CommandRunner.run(["plan", plain, "--seed", f.oldPath])
        #expect(notGzip.status == 65)
        #expect(notGzip.stderr.contains("plain JSON"))
    }

    @Test func applyFailuresLeaveEverythingUntouched() throws {
        let f = try Files()
        let planPath = try f.writePlan()
        let out = f.dir.path("app.bin")
        try f.dir.write("app.bin", Array("installed".utf8))
        func apply(_ extra: [String], sha: String? = nil) throws -> CommandRunner.Output {
            try CommandRunner.run(["apply", planPath, "--source", f.newPath, "--out", out,
                                   "--expect-sha512", sha ?? f.sha512] + extra)
        }
        func untouched() throws {
            #expect(Array(try Data(contentsOf: URL(fileURLWithPath: out))) == Array("installed".utf8))
            let names = try FileManager.default.contentsOfDirectory(atPath: f.dir.url.path)
            #expect(!names.contains { $0.contains("blockyard-tmp") }, "\(names)")
            #expect(Array(try Data(contentsOf: URL(fileURLWithPath: f.oldPath))) == f.old)
        }
        // Wrong SHA-512.
        var wrong = SHA2Hasher.hash(.sha512, f.new).bytes
        wrong[5] ^= 1
        let mismatch = try apply([], sha: Base64.encode(wrong))
        #expect(mismatch.status == 1)
        #expect(mismatch.stderr.contains("sha512 checksum mismatch"))
        try untouched()
        // --size mismatch.
        let size = try apply(["--size", "7"])
        #expect(size.status == 1)
        #expect(size.stderr.contains("--size is 7 but the plan builds \(f.new.count) bytes"))
        try untouched()
        // The seed changed after its blockmap was made (same size).
        var changed = f.old
        changed[200_000] ^= 0xFF
        let changedPath = try f.dir.write("old-changed.bin", changed)
        let seedChanged = try apply(["--seed", changedPath])
        #expect(seedChanged.status == 1)
        #expect(seedChanged.stderr.contains("copied from seed 0 (\(changedPath)) at offset"))
        #expect(seedChanged.stderr.contains("changed after the blockmap was made"))
        try untouched()
        let early = try apply(["--seed", changedPath, "--verify-chunks"])
        #expect(early.status == 1)
        #expect(early.stderr.contains("copied from seed 0 (\(changedPath))"))
        try untouched()
        // A seed of another size.
        let shorter = try f.dir.write("old-short.bin", Array(f.old.dropLast(3)))
        let short = try apply(["--seed", shorter])
        #expect(short.status == 1)
        #expect(short.stderr.contains("it changed after planning"))
        try untouched()
        // Missing seed, missing source, output directory missing, bad digest (HTTP sources:
        // UpdateCommandTests).
        #expect(try apply(["--seed", f.dir.path("gone.bin")]).status == 66)
        #expect(try CommandRunner.run(["apply", planPath, "--source", f.dir.path("gone"), "--out", out,
                                       "--expect-sha512", f.sha512]).status == 66)
        #expect(try CommandRunner.run(["apply", planPath, "--source", f.newPath, "--out", f.dir.path("no/dir/x"),
                                       "--expect-sha512", f.sha512]).status == 73)
        #expect(try apply([], sha: "nonsense").status == 64)
        #expect(try apply(["--seed", f.oldPath, "--seed", f.oldPath]).status == 64)
        try untouched()
    }

    @Test func badPlanFiles() throws {
        let f = try Files()
        let out = f.dir.path("x.bin")
        func apply(_ plan: String) throws -> CommandRunner.Output {
            try CommandRunner.run(["apply", plan, "--source", f.newPath, "--out", out, "--expect-sha512", f.sha512])
        }
        let garbage = try apply(try f.dir.write("garbage.json", Array("{\"format\":".utf8)))
        #expect(garbage.status == 65)
        #expect(garbage.stderr.contains("not a valid Blockyard plan"))
        // Operations that leave a hole.
        var plan = try Self.decode(try f.plan(["--json"]))
        plan.operations[1].targetOffset += 1
        let holed = try apply(try f.dir.write("holed.json", Array(try JSONEncoder().encode(plan))))
        #expect(holed.status == 65)
        #expect(holed.stderr.contains("operation #1 starts at target offset"))
        #expect(try apply(f.dir.path("absent.json")).status == 66)
        #expect(!FileManager.default.fileExists(atPath: out))
    }
}
