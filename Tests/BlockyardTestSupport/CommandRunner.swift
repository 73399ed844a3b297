import Foundation

/// Runs the built `blockyard` executable as a subprocess, the way a user or a build script
/// would, and captures its exit status and output.
public enum CommandRunner {
    public struct Output: Sendable {
        public let status: Int32
        public let stdout: String
        public let stderr: String
        public let stdoutBytes: [UInt8]
    }

    /// The `blockyard` binary next to the test bundle (SwiftPM puts both in the same
    /// products directory), or `$BLOCKYARD_BIN`.
    public static var binary: URL {
        if let env = ProcessInfo.processInfo.environment["BLOCKYARD_BIN"] {
            return URL(fileURLWithPath: env)
        }
        var dir = Bundle.main.bundleURL
        if dir.pathExtension == "xctest" { dir = dir.deletingLastPathComponent() }
        let candidate = dir.appendingPathComponent("blockyard")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        // Fallback: the debug products directory of this checkout.
        return SharedVectors.repositoryRoot.appendingPathComponent(".build/debug/blockyard")
    }

    /// Runs `blockyard args…`, optionally feeding `stdin`, and waits for it.
    @discardableResult
    public static func run(_ args: [String], stdin: [UInt8]? = nil, environment: [String: String] = [:],
                           currentDirectory: String? = nil) throws -> Output {
        let process = Process()
        process.executableURL = binary
        process.arguments = args
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        if let currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
        let outPipe = Pipe(), errPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        let inPipe = Pipe()
        process.standardInput = stdin == nil ? FileHandle.nullDevice : inPipe
        try process.run()
        if let stdin {
            let handle = inPipe.fileHandleForWriting
            DispatchQueue.global().async {
                handle.write(Data(stdin))
                try? handle.close()
            }
        }
        // Drain both pipes concurrently so a chatty process never blocks.
        nonisolated(unsafe) var errData = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            errData = errPipe.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = outPipe.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return Output(status: process.terminationStatus,
                      stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self),
                      stdoutBytes: Array(outData))
    }
}
