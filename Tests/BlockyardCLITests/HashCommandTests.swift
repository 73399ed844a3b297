import BlockyardCore
import BlockyardTestSupport
import Foundation
import Testing

@Suite("blockyard hash")
struct HashCommandTests {
    @Test func formatsAndSha256sumAcceptsOutput() throws {
        let dir = try TemporaryDirectory()
        let a = try dir.write("a.bin", VectorInputs.randomBytes(seed: 3, count: 100_000))
        let b = try dir.write("name with spaces.bin", Array("hello".utf8))
        let table = try CommandRunner.run(["hash", a, b])
        #expect(table.status == 0)
        #expect(table.stdout.contains("SHA256"))
        #expect(table.stdout.contains("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"))

        let sums = try CommandRunner.run(["hash", "--format", "sha256sum", "a.bin", "name with spaces.bin"], currentDirectory: dir.url.path)
        try dir.write("SHA256SUMS", Array(sums.stdoutBytes))
        let gnu = Process()
        gnu.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        gnu.arguments = ["-c", "SHA256SUMS"]
        gnu.currentDirectoryURL = dir.url
        gnu.standardOutput = FileHandle.nullDevice
        try gnu.run()
        gnu.waitUntilExit()
        #expect(gnu.terminationStatus == 0)

        let sha512 = try CommandRunner.run(["hash", "--format", "sha512sum", b])
        #expect(sha512.stdout.hasPrefix("9b71d224bd62f3785d96d46ad3ea3d73319bfbc2890caadae2dff72519673ca72323c3d99ba5c11d7c7acc6e14b8c5da0c4663475c2e5c3adef46f73bcdec043  "))

        let electron = try CommandRunner.run(["hash", "--format", "electron", b])
        #expect(electron.stdout == #"{"size":5,"sha512":"m3HSJL1i83hdltRq0+o9czGb+8KJDKra4t/3JRlnPKcjI8PZm6XBHXx6zG4UuMXaDEZjR1wuXDre9G9zvN7AQw=="}"#)

        let json = try CommandRunner.run(["hash", "--json", b])
        let parsed = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]]
        #expect(parsed?.first?["size"] as? Int == 5)
        #expect(parsed?.first?["sha256"] as? String == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
    }

    @Test func standardInput() throws {
        let out = try CommandRunner.run(["hash", "--format", "sha256sum", "-"], stdin: Array("abc".utf8))
        #expect(out.stdout == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  -\n")
    }

    @Test func checkModeReportsMismatchAndMissing() throws {
        let dir = try TemporaryDirectory()
        try dir.write("good", Array("good".utf8))
        try dir.write("bad", Array("bad".utf8))
        let good = SHA2Hasher.hash(.sha256, Array("good".utf8)).hex
        let wrong = SHA2Hasher.hash(.sha512, Array("other".utf8)).hex
        try dir.write("SUMS", Array("\(good)  good\n\(wrong) *bad\n\(good)  missing\nnot a line\n".utf8))
        let out = try CommandRunner.run(["hash", "--check", "SUMS"], currentDirectory: dir.url.path)
        #expect(out.status == 1)
        #expect(out.stdout.contains("good: OK"))
        #expect(out.stdout.contains("bad: FAILED\n"))
        #expect(out.stdout.contains("missing: FAILED open or read"))
        #expect(out.stderr.contains("line 4: improperly formatted"))
        #expect(out.stderr.contains("1 computed checksum did NOT match"))

        try dir.write("OKSUMS", Array("\(good)  good\n".utf8))
        #expect(try CommandRunner.run(["hash", "--check", "OKSUMS"], currentDirectory: dir.url.path).status == 0)

        try dir.write("GARBAGE", Array("nothing here\n".utf8))
        #expect(try CommandRunner.run(["hash", "--check", "GARBAGE"], currentDirectory: dir.url.path).status == 65)
        #expect(try CommandRunner.run(["hash", "--check", "NOSUCH"], currentDirectory: dir.url.path).status == 66)
    }

    @Test func badInputsAreReportedAndOthersStillHashed() throws {
        let dir = try TemporaryDirectory()
        let good = try dir.write("ok.bin", Array("x".utf8))
        let unreadable = try dir.write("secret.bin", Array("y".utf8))
        chmod(unreadable, 0)
        let isRoot = getuid() == 0
        let out = try CommandRunner.run(["hash", "--format", "sha256sum", dir.path("missing"), dir.url.path, good, unreadable])
        #expect(out.status == 1)
        #expect(out.stderr.contains("\(dir.path("missing")): No such file or directory"))
        #expect(out.stderr.contains("\(dir.url.path): is a directory"))
        if !isRoot { #expect(out.stderr.contains("secret.bin: Permission denied")) }
        #expect(out.stdout.contains("ok.bin"))
    }

    @Test func fifoThatErrorsOrEndsEarly() throws {
        // A FIFO is hashed as a stream; the writer end closing mid-way just ends the input.
        let dir = try TemporaryDirectory()
        let fifo = dir.path("pipe")
        #expect(mkfifo(fifo, 0o600) == 0)
        let writer = Thread {
            let fd = open(fifo, O_WRONLY)
            _ = Array("streamed".utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
        }
        writer.start()
        let out = try CommandRunner.run(["hash", "--format", "sha256sum", fifo])
        #expect(out.status == 0)
        #expect(out.stdout.hasPrefix(SHA2Hasher.hash(.sha256, Array("streamed".utf8)).hex))
    }

    @Test func usageErrors() throws {
        #expect(try CommandRunner.run(["hash"]).status == 64)
        #expect(try CommandRunner.run(["hash", "--format", "md5", "x"]).status == 64)
    }
}
