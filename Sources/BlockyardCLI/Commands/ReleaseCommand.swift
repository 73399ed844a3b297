import ArgumentParser
import BlockyardRelease
import Foundation

/// `blockyard release create|promote|stage|verify`: update metadata and channels.
struct ReleaseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "release",
        abstract: "Create releases, move channels (promote, rollback, staged rollout), verify metadata.",
        discussion: """
            A release directory holds the channel files electron-updater reads
            (latest.yml, latest-mac.yml, latest-linux.yml, beta.yml, …) at its root and
            each version's artifacts under releases/{version}/, with their blockmaps,
            SHA256SUMS and release.json. `blockyard publish` uploads it to S3.
            See docs/RELEASES.md.

            EXAMPLES
              blockyard release create --version 1.2.0 --out site \\
                  dist/MyApp-Setup-1.2.0.exe dist/MyApp-1.2.0-arm64-mac.zip
              blockyard release stage --dir site --channel latest --percent 10
              blockyard release promote --dir site --version 1.1.0 --channel latest
              blockyard release verify site/latest.yml --public-key release.key.pub
            """,
        subcommands: [ReleaseCreateCommand.self, ReleasePromoteCommand.self, ReleaseStageCommand.self,
                      ReleaseVerifyCommand.self])
}

/// Helpers shared by the release, publish and key commands.
enum ReleaseConsole {
    /// Reports `error` on stderr and returns the exit code for its kind.
    static func fail(_ error: ReleaseError) -> ExitCode {
        Console.error(error.message)
        return ExitStatus.code(for: error.kind)
    }

    /// Runs `body`, turning a ``ReleaseError`` into its exit code.
    static func run<T>(_ body: () throws(ReleaseError) -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw fail(error)
        }
    }

    static func signingKey(_ path: String?) throws -> MetadataSigningKey? {
        guard let path else { return nil }
        return try run { () throws(ReleaseError) in try MetadataSigningKey(contentsOf: path) }
    }

    static func warnings(_ list: [String]) {
        for warning in list { Console.warning(warning) }
    }

    /// The one-line hint of ``RangeHeaderCheck`` on stderr, when a release's differential
    /// downloads need longer Range headers than a default nginx accepts.
    static func rangeHeaderHint(_ findings: [RangeHeaderCheck.Finding]) {
        if let hint = RangeHeaderCheck.hint(findings) { Console.note(hint) }
    }

    /// One line per channel file: `latest.yml  1.1.0 → 1.2.0  (signed)`.
    static func printChanges(_ changes: [ChannelFileChange], skipped: [ChannelFileSkip] = []) {
        let width = max(4, (changes.map(\.file) + skipped.map(\.file)).map(\.count).max() ?? 0)
        for change in changes {
            var line = change.file.padding(width) + "  "
            if let previous = change.previousVersion, previous != change.version {
                line += "\(previous) → \(change.version)"
            } else if change.previousVersion == nil {
                line += "new, \(change.version)"
            } else {
                line += change.version
            }
            if change.stagingPercentage != change.previousStagingPercentage || change.stagingPercentage != nil {
                line += "  staging \(percent(change.previousStagingPercentage)) → \(percent(change.stagingPercentage))"
            }
            if change.signed { line += "  (signed)" }
            if let fallback = change.fallbackVersion {
                line += "  outside the rollout: \(fallback) (\(StagedFallback.fileName(forChannelFile: change.file)), signed)"
            }
            Console.out(line)
        }
        for skip in skipped {
            Console.out(skip.file.padding(width) + "  left at \(skip.currentVersion): \(skip.reason)")
        }
    }

    private static func percent(_ value: Int?) -> String { value.map { "\($0)%" } ?? "all" }
}

extension ReleaseOS: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
}

extension ReleaseArch: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
}
