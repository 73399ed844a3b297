import Foundation

/// Runs the post-install health command (`/bin/sh -c CMD`) with the installed version in
/// its environment (`BLOCKYARD_VERSION`, `BLOCKYARD_INSTALL_PATH`, `BLOCKYARD_PREVIOUS_VERSION`).
/// A non-zero exit, a signal or running past the timeout is a failure.
struct HealthCheck {
    let command: String
    var timeoutSeconds: Double = 300

    struct Failure: Error {
        let message: String
    }

    func run(version: String, installPath: String, previousVersion: String?) throws(Failure) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        var environment = ProcessInfo.processInfo.environment
        environment["BLOCKYARD_VERSION"] = version
        environment["BLOCKYARD_INSTALL_PATH"] = installPath
        environment["BLOCKYARD_PREVIOUS_VERSION"] = previousVersion ?? ""
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        do {
            try process.run()
        } catch {
            throw Failure(message: "health check \(command.debugDescription) could not start: \(error.localizedDescription)")
        }
        // Read while it runs so a chatty command never blocks on a full pipe.
        let collected = OutputTail()
        let reader = Thread {
            while true {
                let data = output.fileHandleForReading.availableData
                if data.isEmpty { break }
                collected.append(data)
            }
        }
        reader.start()
        if finished.wait(timeout: .now() + timeoutSeconds) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            finished.wait()
            throw Failure(message: "health check \(command.debugDescription) did not finish within \(Int(timeoutSeconds)) s")
        }
        let tail = collected.text
        let detail = tail.isEmpty ? "" : ": \(tail)"
        if process.terminationReason == .uncaughtSignal {
            throw Failure(message: "health check \(command.debugDescription) was killed by signal \(process.terminationStatus)\(detail)")
        }
        if process.terminationStatus != 0 {
            throw Failure(message: "health check \(command.debugDescription) exited with \(process.terminationStatus)\(detail)")
        }
    }
}

/// The last bytes a command printed (for error messages).
private final class OutputTail: @unchecked Sendable {
    private let lock = NSLock()
    private var bytes: [UInt8] = []

    func append(_ data: Data) {
        lock.withLock {
            bytes.append(contentsOf: data)
            if bytes.count > 2048 { bytes.removeFirst(bytes.count - 2048) }
        }
    }

    var text: String {
        lock.withLock { String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
    }
}
