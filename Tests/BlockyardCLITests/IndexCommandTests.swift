import BlockyardCore
import BlockyardTestSupport
import Foundation
import Testing

@Suite("blockyard index")
struct IndexCommandTests {
    static func read(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

    static func entries(_ dir: TemporaryDirectory) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.url.path).sorted()
    }

    /// The files are exactly the in-memory builder's, decode, and unpack to the input.
    @Test(arguments: ["empty", "hello-world", "random-2-3145728", "bundle-7-3-base"])
    func buildMatchesLibrary(name: String) throws {
        let dir = try TemporaryDirectory()
        let input = try #require(VectorInputs.generate(name))
        let path = try dir.write(name, input)
        let run = try CommandRunner.run(["index", path, "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let (index, pack) = DeliveryPacker.build(input)
        let indexBytes = try Self.read(path + ".byindex")
        #expect(indexBytes == DeliveryIndexCodec.encode(index))
        #expect(try Self.read(path + ".bypack") == pack)
        #expect(try Self.entries(dir) == [name, name + ".byindex", name + ".bypack"].sorted(), "no temporary files left")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let summary = try #require(report["summary"] as? [String: Any])
        #expect(summary["root"] as? String == index.rootHash.hex)
        #expect(summary["chunks"] as? Int == index.leaves.count)
        #expect(summary["artifactSize"] as? Int == input.count)
        #expect(summary["packSize"] as? Int == pack.count)
        #expect(summary["indexSize"] as? Int == indexBytes.count)
        #expect(summary["levels"] as? Int == index.levels.count + 1)
        #expect(report["index"] as? String == path + ".byindex")

        let inspect = try CommandRunner.run(["index", "inspect", path + ".byindex", "--pack", path + ".bypack", "--json"])
        #expect(inspect.status == 0, "\(inspect.stderr)")
        let inspected = try #require(try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as? [String: Any])
        #expect((inspected["summary"] as? [String: Any])?["root"] as? String == index.rootHash.hex)
        #expect(inspected["packVerified"] as? Bool == true)
    }

    @Test func humanOutputAndOptions() throws {
        let dir = try TemporaryDirectory()
        let out = try TemporaryDirectory()
        let text = Array(String(repeating: "the quick brown fox jumps over the lazy dog\n", count: 20_000).utf8)
        let path = try dir.write("notes.txt", text)
        let run = try CommandRunner.run(["index", path, "--out", out.url.path, "--level", "9"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("notes.txt: 859.4 KiB in "))
        #expect(run.stdout.contains("zstd level 9"))
        #expect(try Self.entries(out) == ["notes.txt.byindex", "notes.txt.bypack"])
        #expect(try Self.entries(dir) == ["notes.txt"])
        let index = try DeliveryIndexCodec.decode(Self.read(out.path("notes.txt.byindex")))
        #expect(index.parameters.compressionLevel == 9)
        #expect(index.packSize * 10 < index.artifactSize)
        let inspect = try CommandRunner.run(["index", "inspect", out.path("notes.txt.byindex"), "--root", index.rootHash.hex])
        #expect(inspect.status == 0, "\(inspect.stderr)")
        #expect(inspect.stdout.contains("root     \(index.rootHash.hex)"))
        let wrong = try CommandRunner.run(["index", "inspect", out.path("notes.txt.byindex"), "--root", String(repeating: "0", count: 64)])
        #expect(wrong.status == 1)
        #expect(wrong.stderr.contains("root hash \(index.rootHash.hex), expected \(String(repeating: "0", count: 64))"))
    }

    @Test func usageAndMissingInputs() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("a", [1, 2, 3])
        #expect(try CommandRunner.run(["index", path, "--level", "40"]).status == 64)
        #expect(try CommandRunner.run(["index", "inspect", path, "--root", "abc"]).status == 64)
        let missing = try CommandRunner.run(["index", dir.path("nope")])
        #expect(missing.status == 66)
        #expect(missing.stderr.hasPrefix("blockyard: \(dir.path("nope")): "))
        #expect(try CommandRunner.run(["index", dir.url.path]).status == 66)
        #expect(try CommandRunner.run(["index", "inspect", dir.path("nope.byindex")]).status == 66)
        let noDir = try CommandRunner.run(["index", path, "--out", dir.path("no-such-dir")])
        #expect(noDir.status == 73)
        #expect(try Self.entries(dir) == ["a"], "nothing written on failure")
        #expect(try CommandRunner.run(["index", "--help"]).stdout.contains("EXAMPLES"))
        #expect(try CommandRunner.run(["index", "inspect", "--help"]).stdout.contains("EXAMPLES"))
    }

    /// A failing build leaves the previous pair untouched and no temporary files.
    @Test func failureKeepsOldFiles() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("a.bin", VectorInputs.randomBytes(seed: 1, count: 100_000))
        #expect(try CommandRunner.run(["index", path]).status == 0)
        let before = try Self.read(path + ".byindex")
        // The index's name is taken by a directory: refused before anything is written.
        let out = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: out.path("a.bin.byindex"), withIntermediateDirectories: false)
        try FileManager.default.createDirectory(atPath: out.path("a.bin.byindex/x"), withIntermediateDirectories: false)
        let blocked = try CommandRunner.run(["index", path, "--out", out.url.path])
        #expect(blocked.status == 73, "\(blocked.stderr)")
        #expect(blocked.stderr == "blockyard: \(out.path("a.bin.byindex")): is a directory\n")
        #expect(try Self.entries(out) == ["a.bin.byindex"])
        #expect(try Self.read(path + ".byindex") == before)
        #expect(try Self.entries(dir) == ["a.bin", "a.bin.byindex", "a.bin.bypack"])
    }

    @Test func inspectRejectsCorruptData() throws {
        let dir = try TemporaryDirectory()
        let input = VectorInputs.randomBytes(seed: 5, count: 400_000) + Array(String(repeating: "text ", count: 50_000).utf8)
        let path = try dir.write("x", input)
        #expect(try CommandRunner.run(["index", path]).status == 0)
        var index = try Self.read(path + ".byindex")
        let truncated = try dir.write("truncated.byindex", Array(index.dropLast(10)))
        let run = try CommandRunner.run(["index", "inspect", truncated])
        #expect(run.status == 65)
        #expect(run.stderr == "blockyard: \(truncated): truncated index: \(index.count - 10) bytes, the header and counts require \(index.count)\n")
        index[index.count - 40] ^= 1  // the last leaf's artifact offset
        let corrupt = try dir.write("corrupt.byindex", index)
        #expect(try CommandRunner.run(["index", "inspect", corrupt]).status == 65)
        let notIndex = try CommandRunner.run(["index", "inspect", path])
        #expect(notIndex.status == 65)
        #expect(notIndex.stderr.contains("not a Blockyard delivery index"))
        var pack = try Self.read(path + ".bypack")
        pack[pack.count - 1] ^= 1
        let badPack = try dir.write("bad.bypack", pack)
        let packRun = try CommandRunner.run(["index", "inspect", path + ".byindex", "--pack", badPack])
        #expect(packRun.status == 65)
        #expect(packRun.stderr.hasPrefix("blockyard: \(badPack): chunk "))
        #expect(try CommandRunner.run(["index", "inspect", path + ".byindex", "--pack", dir.path("none")]).status == 66)
    }
}
