import ArgumentParser
import Foundation

/// The `blockyard` command: a thin shell over the library layers. Each subcommand lives in
/// its own file under `Commands/`.
public struct BlockyardCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "blockyard",
        abstract: "Content-addressed artifact store and delta engine for large release artifacts.",
        discussion: """
            Blockyard hashes and blockmaps release artifacts byte-identically to electron-builder,
            plans minimal differential downloads, and reconstructs verified files.

            EXIT CODES
              0   success
              1   a check failed: checksum mismatch, verification failure, some inputs failed
              64  usage error (bad flags or arguments)
              65  invalid data: corrupt, truncated or malformed blockmap, sums file or plan
              66  an input file is missing, unreadable or not a regular file
              73  an output file could not be created
              74  I/O error while reading or writing
              75  the store or the agent's state is locked by another process

            `blockyard --version` prints the version.
            """,
        subcommands: [
            HashCommand.self,
            BlockmapCommand.self,
            StoreCommand.self,
            PlanCommand.self, ApplyCommand.self, UpdateCommand.self, ServeCommand.self, AgentCommand.self,
            ReleaseCommand.self, PublishCommand.self, KeyCommand.self, IndexCommand.self,
        ])

    public init() {}

    /// Runs the command line. `blockyard --version` is answered here rather than by
    /// ArgumentParser's built-in flag, which every subcommand would list beside the
    /// `--version VERSION` options of `store add` and `release create`.
    public static func runMain(_ arguments: [String] = Array(CommandLine.arguments.dropFirst())) -> Never {
        if arguments == ["--version"] {
            print(BlockyardVersion.current)
            Foundation.exit(0)
        }
        main(arguments)
        Foundation.exit(0)
    }
}

/// The version printed by `blockyard --version`.
public enum BlockyardVersion {
    public static let current = "0.1.0"
}
