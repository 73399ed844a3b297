import ArgumentParser

/// `blockyard index`: build (default) or inspect a delivery index and pack (docs/FORMAT.md).
struct IndexCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index",
        abstract: "Build or inspect a delivery index (.byindex) and compressed pack (.bypack).",
        discussion: """
            The delivery format sits beside an artifact: a content-defined Merkle tree
            over its chunks (FILE.byindex) and every chunk zstd-compressed on its own
            (FILE.bypack). A client can read the tree a level per round trip and fetch
            only the chunks it lacks, compressed. docs/FORMAT.md specifies every byte.

            `blockyard index FILE` is `blockyard index build FILE`.

            EXAMPLES
              blockyard index MyApp-1.2.0.exe         # .byindex + .bypack beside it
              blockyard index model.safetensors --out dist/ --json
              blockyard index inspect MyApp-1.2.0.exe.byindex --pack MyApp-1.2.0.exe.bypack
            """,
        subcommands: [IndexBuildCommand.self, IndexInspectCommand.self],
        defaultSubcommand: IndexBuildCommand.self)
}
