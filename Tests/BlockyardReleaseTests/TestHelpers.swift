import BlockyardRelease
import Foundation
import Testing

/// Runs `python3 -c SCRIPT` with `input` on stdin; returns stdout. Fails the test when Python
/// exits non-zero.
func runPython(_ script: String, input: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", script]
    let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
    process.standardInput = stdin
    process.standardOutput = stdout
    process.standardError = stderr
    try process.run()
    stdin.fileHandleForWriting.write(Data(input.utf8))
    try stdin.fileHandleForWriting.close()
    let out = stdout.fileHandleForReading.readDataToEndOfFile()
    let err = stderr.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    try #require(process.terminationStatus == 0, "python3 failed: \(String(decoding: err, as: UTF8.self))")
    return String(decoding: out, as: UTF8.self)
}

/// The channel file text as Python's `yaml.safe_load` reads it, re-encoded as JSON and parsed.
func pythonSafeLoad(_ yaml: String) throws -> [String: Any] {
    let json = try runPython("import sys, yaml, json; print(json.dumps(yaml.safe_load(sys.stdin.read())))", input: yaml)
    return try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
}

/// Runs an executable and returns (status, stdout+stderr).
@discardableResult
func runTool(_ path: String, _ arguments: [String], in directory: URL? = nil) throws -> (Int32, String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = directory }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let out = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: out, as: UTF8.self))
}

extension ReleaseError {
    static func ~= (kind: ReleaseError.Kind, error: ReleaseError) -> Bool { error.kind == kind }
}

/// Expects `body` to throw a ``ReleaseError`` of `kind` and returns it.
@discardableResult
func expectReleaseError<T>(_ kind: ReleaseError.Kind, sourceLocation: SourceLocation = #_sourceLocation,
                           _ body: () throws(ReleaseError) -> T) -> ReleaseError? {
    do {
        _ = try body()
        Issue.record("expected a \(kind) error, got success", sourceLocation: sourceLocation)
        return nil
    } catch {
        #expect(error.kind == kind, "\(error.message)", sourceLocation: sourceLocation)
        return error
    }
}
