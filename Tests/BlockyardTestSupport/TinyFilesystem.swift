import Foundation

/// A small tmpfs mounted on a new temporary directory, to test what happens when a disk
/// fills up. Needs root (or CAP_SYS_ADMIN); ``unavailableReason`` says why it cannot be used.
/// Unmounted on ``unmount()`` or deinit.
public final class TinyFilesystem: @unchecked Sendable {
    public let path: String
    private var mounted = true

    /// Mounts a tmpfs of `bytes` (rounded up to pages by the kernel).
    public init(bytes: Int) throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("blockyard-tinyfs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let status = Self.run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(bytes)", "tmpfs", path])
        guard status == 0 else {
            try? FileManager.default.removeItem(atPath: path)
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSLocalizedDescriptionKey: "mount -t tmpfs failed (exit \(status))"])
        }
    }

    deinit { unmount() }

    public func unmount() {
        guard mounted else { return }
        mounted = false
        _ = Self.run("/bin/umount", [path])
        try? FileManager.default.removeItem(atPath: path)
    }

    /// nil when a tmpfs can be mounted here; otherwise why not (printed when tests skip).
    public static let unavailableReason: String? = {
        guard geteuid() == 0 else { return "not root: cannot mount a tmpfs to fill" }
        do {
            let probe = try TinyFilesystem(bytes: 1 << 20)
            probe.unmount()
            return nil
        } catch {
            return "cannot mount a tmpfs here (\(error.localizedDescription)); a container without CAP_SYS_ADMIN?"
        }
    }()

    private static func run(_ tool: String, _ arguments: [String]) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }
}
