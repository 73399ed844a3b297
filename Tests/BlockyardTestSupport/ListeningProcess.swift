import Foundation
import Testing

/// A long-running `blockyard` subcommand that prints where it listens as its first line of
/// JSON (`serve --json`, `agent serve --json`), started on a free port (`--port 0`) and
/// stopped with SIGTERM when released.
public final class ListeningProcess: @unchecked Sendable {
    public let process = Process()
    /// The first line of stdout, parsed.
    public let listening: [String: Any]
    public let port: Int
    private let stderrPipe = Pipe()

    /// Runs `blockyard COMMAND… --port 0 --json ARGUMENTS…` and waits for its first line.
    public init(_ command: [String], _ arguments: [String] = []) throws {
        process.executableURL = CommandRunner.binary
        process.arguments = command + ["--port", "0", "--json"] + arguments
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = stderrPipe
        try process.run()
        var line: [UInt8] = []
        let handle = stdout.fileHandleForReading
        while true {
            let byte = handle.readData(ofLength: 1)
            if byte.isEmpty || byte.first == 10 { break }
            line.append(byte.first!)
        }
        let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any]
        listening = try #require(object, "\(command.joined(separator: " ")) printed \(String(decoding: line, as: UTF8.self).debugDescription)")
        port = try #require(listening["port"] as? Int)
    }

    /// `http://127.0.0.1:PORT/`
    public var baseURL: String { "http://127.0.0.1:\(port)/" }

    /// Sends SIGTERM and returns the exit status.
    public func stop() -> Int32 {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// What it wrote to stderr so far (call after ``stop()``).
    public var stderr: String { String(decoding: stderrPipe.fileHandleForReading.availableData, as: UTF8.self) }

    deinit {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }
}
