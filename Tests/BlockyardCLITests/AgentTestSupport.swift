import BlockyardTestSupport
import Foundation
import Testing

/// A feed served by a real `blockyard serve` on 127.0.0.1, with versions published by
/// `blockyard release create`, and helpers to run `blockyard agent` against it.
final class AgentFeed {
    let dir: TemporaryDirectory
    let site: String
    var server: ListeningProcess?
    var feedURL: String { "http://127.0.0.1:\(server!.port)/" }

    init(_ label: String) throws {
        dir = try TemporaryDirectory(label)
        site = dir.path("site")
    }

    /// Publishes `files` (name → bytes) as `version`.
    func publish(_ version: String, _ files: [(String, [UInt8])], extra: [String] = []) throws {
        let input = dir.path("in-\(version)")
        try FileManager.default.createDirectory(atPath: input, withIntermediateDirectories: true)
        var paths: [String] = []
        for (name, bytes) in files {
            FileManager.default.createFile(atPath: input + "/" + name, contents: Data(bytes))
            paths.append(input + "/" + name)
        }
        let result = try CommandRunner.run(["release", "create", "--version", version, "--out", site,
                                            "--platform", "linux", "--release-notes", "notes of \(version)"] + extra + paths)
        try #require(result.status == 0, "release create: \(result.stderr)")
    }

    /// Writes a file under the test directory, creating its directories.
    func write(_ relative: String, _ bytes: [UInt8]) throws -> String {
        let path = dir.path(relative)
        try FileManager.default.createDirectory(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path,
                                                withIntermediateDirectories: true)
        try #require(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        return path
    }

    func serve() throws {
        server = try ServeCommandTests.serve(["--root", site])
    }

    /// `blockyard agent SUBCOMMAND --state STATE ARGS…`.
    @discardableResult
    func agent(_ subcommand: String, _ state: String, _ args: [String] = [], environment: [String: String] = [:]) throws -> CommandRunner.Output {
        try CommandRunner.run(["agent", subcommand, "--state", state] + args, environment: environment)
    }

    /// The same with `--json`, parsed; fails the test on a non-zero exit.
    func agentJSON(_ subcommand: String, _ state: String, _ args: [String] = [],
                   sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        let result = try agent(subcommand, state, args + ["--json"])
        try #require(result.status == 0, "agent \(subcommand): exit \(result.status): \(result.stderr)", sourceLocation: sourceLocation)
        return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
                            sourceLocation: sourceLocation)
    }

    func status(_ state: String) throws -> [String: Any] { try agentJSON("status", state) }

    static func installedVersion(_ status: [String: Any]) -> String? {
        (status["installed"] as? [String: Any])?["version"] as? String
    }

    /// `/bin/sh -c SCRIPT ARGS…` (for limits set with ulimit); status and stderr.
    static func shell(_ script: String, _ args: [String]) throws -> (status: Int32, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script] + args
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let data = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static func read(_ path: String) -> [UInt8] {
        Array(FileManager.default.contents(atPath: path) ?? Data())
    }
}

/// Deterministic "versions" of an artifact: a base and edits of it.
enum AgentVersions {
    static func base(_ size: Int = 2_000_000) -> [UInt8] { VectorInputs.randomBytes(seed: 7, count: size) }

    /// `bytes` with `count` bytes at `offset` replaced (new content, same size).
    static func edit(_ bytes: [UInt8], at offset: Int, count: Int, seed: UInt64) -> [UInt8] {
        var out = bytes
        let patch = VectorInputs.randomBytes(seed: seed, count: count)
        out.replaceSubrange(offset..<(offset + count), with: patch)
        return out
    }
}
