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

/// One HTTP/1.1 exchange over a plain socket to 127.0.0.1, byte for byte as given (a huge
/// `Content-Length` with no body, a chunked body), so tests see what any client sees. Blocking,
/// with a receive timeout: no answer within it is a failure, not a hang.
enum AgentRawHTTP {
    struct Response {
        var status: Int
        var head: String
        var body: String
        var json: [String: Any]? { try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] }
    }

    struct Failure: Error, CustomStringConvertible { let description: String }

    static func exchange(port: Int, _ bytes: [UInt8], timeoutSeconds: Int = 15) throws -> Response {
        let socket: LoopbackSocket
        do {
            socket = try LoopbackSocket(port: port, timeoutSeconds: timeoutSeconds)
        } catch {
            throw Failure(description: "cannot connect to 127.0.0.1:\(port)")
        }
        // The server may answer (413) and stop reading before everything is sent.
        socket.send(bytes)
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        func headEnd() -> Int? {
            guard received.count >= 4 else { return nil }
            for i in 0...(received.count - 4) where received[i] == 13 && received[i + 1] == 10 && received[i + 2] == 13 && received[i + 3] == 10 {
                return i + 4
            }
            return nil
        }
        while true {
            if let end = headEnd() {
                let head = String(decoding: received[..<end], as: UTF8.self)
                let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
                if received.count >= end + length {
                    let statusLine = head.split(separator: "\r\n").first ?? ""
                    let parts = statusLine.split(separator: " ")
                    guard parts.count >= 2, let status = Int(parts[1]) else { throw Failure(description: "bad status line \(statusLine)") }
                    return Response(status: status, head: head, body: String(decoding: received[end..<(end + length)], as: UTF8.self))
                }
            }
            guard let n = socket.receive(into: &chunk) else {
                throw Failure(description: "no complete response within \(timeoutSeconds) s (errno \(errno)); got \(received.count) bytes")
            }
            if n == 0 { throw Failure(description: "the connection was closed after \(received.count) bytes of response") }
            received.append(contentsOf: chunk[0..<n])
        }
    }

    /// A request: the head (with `Host`, and `Authorization` when `token` is given), then `body`.
    static func request(_ method: String, _ path: String, port: Int, token: String?, headers: [String] = [],
                        body: [UInt8] = []) -> [UInt8] {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n"
        if let token { text += "Authorization: Bearer \(token)\r\n" }
        for header in headers { text += header + "\r\n" }
        return Array((text + "\r\n").utf8) + body
    }
}
