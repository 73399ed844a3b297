import BlockyardCore
import BlockyardIO
import BlockyardTestSupport
import Foundation
import Testing

@Suite("File hashing and atomic writes")
struct FileHasherTests {
    @Test(arguments: [0, 1, 4 << 20, (4 << 20) + 1, 9 << 20 + 12345])
    func hashMatchesOneShot(size: Int) throws {
        let dir = try TemporaryDirectory()
        let data = VectorInputs.randomBytes(seed: UInt64(size), count: size)
        let path = try dir.write("f.bin", data)
        let digests = try FileHasher.hash(path: path)
        #expect(digests.size == size)
        #expect(digests.sha256 == SHA2Hasher.hash(.sha256, data))
        #expect(digests.sha512 == SHA2Hasher.hash(.sha512, data))
    }

    @Test func sharedVectorDigests() throws {
        let dir = try TemporaryDirectory()
        for name in ["random-2-3145728", "zeros-1048576", "bundle-7-48-swap"] {
            let expected = try SharedVectors.expected(name)
            let path = try dir.write(name, VectorInputs.generate(name)!)
            let digests = try FileHasher.hash(path: path)
            #expect(digests.sha256.hex == expected.sha256)
            #expect(digests.sha512.base64 == expected.sha512)
        }
    }

    @Test func missingAndDirectory() throws {
        let dir = try TemporaryDirectory()
        #expect(throws: FileError(path: dir.path("nope"), kind: .notFound, reason: "No such file or directory")) {
            try FileHasher.hash(path: dir.path("nope"))
        }
        #expect(throws: FileError(path: dir.url.path, kind: .isDirectory, reason: "is a directory")) {
            try FileHasher.hash(path: dir.url.path)
        }
    }

    @Test func atomicWriterLeavesNoTemporaryOnAbandon() throws {
        let dir = try TemporaryDirectory()
        let target = try dir.write("target", [1, 2, 3])
        do {
            let writer = try AtomicFileWriter(destination: target)
            try writer.write([9, 9, 9, 9])
            writer.abandon()
        }
        do {
            let writer = try AtomicFileWriter(destination: target)
            try writer.write([7])
            // Dropped without commit: deinit removes the temporary file.
        }
        #expect(try FileInput.readAll(path: target) == [1, 2, 3])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.url.path) == ["target"])
        try AtomicFileWriter.write([4, 5], to: target)
        #expect(try FileInput.readAll(path: target) == [4, 5])
    }

    @Test func embeddedAppendRefusesChangedFile() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("a.AppImage", VectorInputs.randomBytes(seed: 1, count: 50_000))
        let (result, tail) = try BlockmapGenerator.generateEmbedded(path: path)
        #expect(throws: FileError.self) {
            try BlockmapGenerator.appendAtomically(path: path, tail: tail, expectedSize: 49_999)
        }
        #expect(try FileInput.readAll(path: path).count == 50_000)
        try BlockmapGenerator.appendAtomically(path: path, tail: tail, expectedSize: 50_000)
        let grown = try FileInput.readAll(path: path)
        #expect(grown.count == result.size)
        #expect(SHA2Hasher.hash(.sha512, grown) == result.sha512)
    }
}
