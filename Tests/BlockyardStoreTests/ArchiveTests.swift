import BlockyardCore
@_spi(Testing) @testable import BlockyardStore
import BlockyardTestSupport
import Foundation
import Testing

@Suite("Directories and archives")
struct ArchiveTests {
    /// A small release tree: an executable, a model file, a text file, an empty file,
    /// a symbolic link and a hard link.
    static func makeTree(in dir: TemporaryDirectory, name: String = "tree") throws -> String {
        let root = dir.path(name)
        let fm = FileManager.default
        try fm.createDirectory(atPath: root + "/bin", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: root + "/data/deep", withIntermediateDirectories: true)
        try dir.write("\(name)/bin/tool", VectorInputs.randomBytes(seed: 50, count: 200_000))
        chmod(root + "/bin/tool", 0o755)
        try dir.write("\(name)/data/model.bin", VectorInputs.randomBytes(seed: 51, count: 1_200_000))
        try dir.write("\(name)/data/deep/notes.txt", Array(String(repeating: "release notes\n", count: 500).utf8))
        try dir.write("\(name)/README", Array("hello\n".utf8))
        try dir.write("\(name)/empty", [])
        try fm.createSymbolicLink(atPath: root + "/latest", withDestinationPath: "data/model.bin")
        link(root + "/README", root + "/README.hard")
        return root
    }

    static let regularFiles = ["README", "README.hard", "bin/tool", "data/deep/notes.txt", "data/model.bin", "empty"]

    /// Checks that `exported` holds the same files, modes and links as `root`.
    static func expectSameTree(_ root: String, _ exported: String) throws {
        for path in regularFiles {
            let a = try Data(contentsOf: URL(fileURLWithPath: root + "/" + path))
            let b = try Data(contentsOf: URL(fileURLWithPath: exported + "/" + path))
            #expect(a == b, "\(path) differs")
            var sa = stat(), sb = stat()
            stat(root + "/" + path, &sa)
            stat(exported + "/" + path, &sb)
            #expect(sa.st_mode & 0o777 == sb.st_mode & 0o777, "\(path) mode")
        }
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: exported + "/latest") == "data/model.bin")
    }

    @Test func directoryRoundTrip() throws {
        let dir = try TemporaryDirectory("store")
        let root = try Self.makeTree(in: dir)
        let store = try StoreFixtures.store(in: dir)
        let report = try store.add(path: root, as: StoreFixtures.ref("tree@1"))
        #expect(report.source == .directory && report.members == 7)
        let manifest = try store.manifest(StoreFixtures.ref("tree@1"))
        #expect(manifest.members.map(\.path) == ["README", "README.hard", "bin/tool", "data/deep/notes.txt", "data/model.bin", "empty", "latest"])
        #expect(manifest.member("latest")?.kind == .symlink(target: "data/model.bin"))
        #expect(manifest.member("bin/tool")?.mode == 0o755)
        // README.hard has README's content: stored once.
        #expect(report.newBytes == 200_000 + 1_200_000 + 7000 + 6)
        let exported = try store.export(StoreFixtures.ref("tree@1"), to: dir.path("out"))
        #expect(exported.files == 6 && exported.symlinks == 1)
        try Self.expectSameTree(root, dir.path("out"))
        // Exporting again without overwrite is refused; with it, files are replaced.
        #expect(throws: StoreError.self) { try store.export(StoreFixtures.ref("tree@1"), to: dir.path("out")) }
        #expect(try store.export(StoreFixtures.ref("tree@1"), to: dir.path("out"), overwrite: true).files == 6)
        // A version with several members needs --member for cat.
        #expect(throws: StoreError.self) { try StoreFixtures.bytes(store, "tree@1") }
        #expect(try StoreFixtures.bytes(store, "tree@1", member: "./data/model.bin") == VectorInputs.randomBytes(seed: 51, count: 1_200_000))
    }

    @Test func tarMembersAndRepackingDeduplicate() throws {
        let dir = try TemporaryDirectory("store")
        let root = try Self.makeTree(in: dir)
        #expect(try StoreFixtures.tool("/usr/bin/tar", ["-cf", dir.path("a.tar"), "."], in: root) == 0)
        // The same files in another order, gzip'd: every member's chunks are already stored.
        #expect(try StoreFixtures.tool("/usr/bin/tar", ["-czf", dir.path("b.tar.gz"), "latest", "empty", "data", "bin", "README.hard", "README"], in: root) == 0)
        let store = try StoreFixtures.store(in: dir)
        let first = try store.add(path: dir.path("a.tar"), as: StoreFixtures.ref("pkg@1"))
        #expect(first.source == .archive(format: "tar") && first.members == 7)
        let second = try store.add(path: dir.path("b.tar.gz"), as: StoreFixtures.ref("pkg@2"))
        #expect(second.source == .archive(format: "tar.gz") && second.members == 7)
        #expect(second.newBytes == 0)
        // And the unpacked directory too.
        #expect(try store.add(path: root, as: StoreFixtures.ref("pkg@dir")).newBytes == 0)
        let manifest = try store.manifest(StoreFixtures.ref("pkg@2"))
        // tar stores the second name of a hard link as a link: it shares the first's content.
        #expect(manifest.member("README.hard")?.sha256 == manifest.member("README")?.sha256)
        #expect(manifest.member("README.hard")?.size == 6)
        for ref in ["pkg@1", "pkg@2"] {
            let out = dir.path("out-\(ref)")
            _ = try store.export(StoreFixtures.ref(ref), to: out)
            try Self.expectSameTree(root, out)
        }
        #expect(try store.verify(full: true).ok)
    }

    @Test(.enabled(if: StoreFixtures.hasZip))
    func zipMembersOrTheZipItself() throws {
        let dir = try TemporaryDirectory("store")
        let root = try Self.makeTree(in: dir)
        #expect(try StoreFixtures.tool("/usr/bin/zip", ["-q", "-r", "-y", dir.path("app.zip"), "."], in: root) == 0)
        let store = try StoreFixtures.store(in: dir)
        let unpacked = try store.add(path: dir.path("app.zip"), as: StoreFixtures.ref("app@1"))
        #expect(unpacked.source == .archive(format: "zip") && unpacked.members == 7)
        _ = try store.export(StoreFixtures.ref("app@1"), to: dir.path("out"))
        try Self.expectSameTree(root, dir.path("out"))
        // --no-unpack: the zip as one file, byte for byte (what electron-updater downloads).
        var options = AddOptions()
        options.unpack = false
        let whole = try store.add(path: dir.path("app.zip"), as: StoreFixtures.ref("app-zip@1"), options: options)
        #expect(whole.source == .file && whole.members == 1)
        #expect(try StoreFixtures.bytes(store, "app-zip@1") == Array(try Data(contentsOf: URL(fileURLWithPath: dir.path("app.zip")))))
    }

    @Test func archivesEscapingTheirDirectoryAreRefused() throws {
        let dir = try TemporaryDirectory("store")
        try FileManager.default.createDirectory(atPath: dir.path("work"), withIntermediateDirectories: true)
        try dir.write("outside", Array("x".utf8))
        #expect(try StoreFixtures.tool("/usr/bin/tar", ["-P", "-cf", dir.path("evil.tar"), "../outside"], in: dir.path("work")) == 0)
        let store = try StoreFixtures.store(in: dir)
        #expect {
            _ = try store.add(path: dir.path("evil.tar"), as: StoreFixtures.ref("evil@1"))
        } throws: { error in
            guard case StoreError.invalidInput(_, let reason) = error else { return false }
            return reason.contains("'..'")
        }
        #expect(try store.list().isEmpty)
    }

    @Test func repeatedArchivePathKeepsTheLastCopy() throws {
        let dir = try TemporaryDirectory("store")
        try FileManager.default.createDirectory(atPath: dir.path("w"), withIntermediateDirectories: true)
        try dir.write("w/a", Array("first".utf8))
        #expect(try StoreFixtures.tool("/usr/bin/tar", ["-cf", dir.path("dup.tar"), "a"], in: dir.path("w")) == 0)
        try dir.write("w/a", Array("second".utf8))
        #expect(try StoreFixtures.tool("/usr/bin/tar", ["-rf", dir.path("dup.tar"), "a"], in: dir.path("w")) == 0)
        let store = try StoreFixtures.store(in: dir)
        let report = try store.add(path: dir.path("dup.tar"), as: StoreFixtures.ref("dup@1"))
        #expect(report.members == 1)
        #expect(report.warnings.contains { $0.contains("more than once") })
        #expect(try StoreFixtures.bytes(store, "dup@1") == Array("second".utf8))
        #expect(try store.verify().ok)
    }

    /// A tar built from two trees appended one after the other: `first` from `a`, then
    /// `second` from `b` (so the same name can be a file or link in one and a directory in
    /// the other).
    static func conflictingTar(in dir: TemporaryDirectory, first: [String], second: [String],
                               build: (_ a: String, _ b: String) throws -> Void) throws -> String {
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir.path("a"), withIntermediateDirectories: true)
        try fm.createDirectory(atPath: dir.path("b"), withIntermediateDirectories: true)
        try build(dir.path("a"), dir.path("b"))
        let tar = dir.path("conflict.tar")
        #expect(try StoreFixtures.tool("/usr/bin/tar", ["-cf", tar] + first, in: dir.path("a")) == 0)
        #expect(try StoreFixtures.tool("/usr/bin/tar", ["-rf", tar] + second, in: dir.path("b")) == 0)
        return tar
    }

    /// Adds `tar` and checks that it is refused naming both members, and that nothing is stored.
    static func expectConflictRefused(_ tar: String, _ upper: String, _ lower: String, in dir: TemporaryDirectory) throws {
        let store = try StoreFixtures.store(in: dir)
        // A large first member, committed in several batches before the conflict is seen.
        var options = AddOptions()
        options.batchBytes = 1 << 20
        #expect {
            _ = try store.add(path: tar, as: StoreFixtures.ref("bad@1"), options: options)
        } throws: { error in
            guard case StoreError.invalidInput(let path, let reason) = error else { return false }
            return path == tar && reason.contains("\"\(upper)\"") && reason.contains("\"\(lower)\"")
                && reason.contains("could never be exported")
        }
        #expect(try store.list().isEmpty)
        let report = try store.verify()
        #expect(report.ok)
        #expect(try store.stats().chunks == 0, "the chunks of the refused add were removed")
    }

    @Test func tarWithAMemberBelowASymbolicLinkIsRefused() throws {
        let dir = try TemporaryDirectory("store")
        let tar = try Self.conflictingTar(in: dir, first: ["big", "link"], second: ["link/x"]) { a, b in
            try dir.write("a/big", VectorInputs.randomBytes(seed: 70, count: 3 << 20))
            try FileManager.default.createSymbolicLink(atPath: a + "/link", withDestinationPath: "/tmp")
            try FileManager.default.createDirectory(atPath: b + "/link", withIntermediateDirectories: true)
            try dir.write("b/link/x", Array("escapes through the link".utf8))
        }
        try Self.expectConflictRefused(tar, "link", "link/x", in: dir)
    }

    @Test func tarWithAMemberBelowARegularFileIsRefused() throws {
        let dir = try TemporaryDirectory("store")
        let tar = try Self.conflictingTar(in: dir, first: ["big", "x"], second: ["x/y"]) { a, b in
            try dir.write("a/big", VectorInputs.randomBytes(seed: 71, count: 3 << 20))
            try dir.write("a/x", Array("a file".utf8))
            try FileManager.default.createDirectory(atPath: b + "/x", withIntermediateDirectories: true)
            try dir.write("b/x/y", Array("below the file".utf8))
        }
        try Self.expectConflictRefused(tar, "x", "x/y", in: dir)
        // The other order too: the directory's member first, then the file.
        let other = try TemporaryDirectory("store")
        let reversed = try Self.conflictingTar(in: other, first: ["x/y"], second: ["x"]) { a, b in
            try FileManager.default.createDirectory(atPath: a + "/x", withIntermediateDirectories: true)
            try other.write("a/x/y", Array("below the file".utf8))
            try other.write("b/x", Array("a file".utf8))
        }
        try Self.expectConflictRefused(reversed, "x", "x/y", in: other)
    }

    @Test func failedExportLeavesNothingBehind() throws {
        let dir = try TemporaryDirectory("store")
        let root = try Self.makeTree(in: dir)
        let store = try StoreFixtures.store(in: dir)
        _ = try store.add(path: root, as: StoreFixtures.ref("tree@1"))
        // Damage a chunk of the last regular file written (data/model.bin): every file before
        // it has been written and verified by then.
        let member = try #require(try store.manifest(StoreFixtures.ref("tree@1")).member("data/model.bin"))
        #expect(try store.damageChunkForTesting(member.chunks[member.chunks.count / 2].key))
        // Into a new directory: it does not exist afterwards.
        #expect(throws: StoreError.self) { try store.export(StoreFixtures.ref("tree@1"), to: dir.path("out/new")) }
        #expect(!FileManager.default.fileExists(atPath: dir.path("out/new")))
        #expect(!FileManager.default.fileExists(atPath: dir.path("out")))
        // Into an existing directory with a file of its own: only that file is left.
        try FileManager.default.createDirectory(atPath: dir.path("mine"), withIntermediateDirectories: true)
        try dir.write("mine/keep.txt", Array("mine".utf8))
        #expect(throws: StoreError.self) { try store.export(StoreFixtures.ref("tree@1"), to: dir.path("mine")) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path("mine")) == ["keep.txt"])
    }

    @Test func storeInsideTheAddedDirectoryIsSkipped() throws {
        let dir = try TemporaryDirectory("store")
        let root = try Self.makeTree(in: dir)
        let store = try ChunkStore.initialize(at: root + "/.blockyard/store").store
        let report = try store.add(path: root, as: StoreFixtures.ref("self@1"))
        #expect(report.members == 7)
        #expect(report.warnings.contains { $0.contains("the store itself") })
        #expect(try store.manifest(StoreFixtures.ref("self@1")).members.allSatisfy { !$0.path.hasPrefix(".blockyard") })
    }

    @Test func notAnArchiveIsReportedClearly() throws {
        let dir = try TemporaryDirectory("store")
        let path = try dir.write("fake.tar.gz", VectorInputs.randomBytes(seed: 1, count: 5000))
        let store = try StoreFixtures.store(in: dir)
        #expect(throws: StoreError.self) { try store.add(path: path, as: StoreFixtures.ref("fake@1")) }
        var options = AddOptions()
        options.unpack = false
        #expect(try store.add(path: path, as: StoreFixtures.ref("fake@1"), options: options).members == 1)
    }
}
