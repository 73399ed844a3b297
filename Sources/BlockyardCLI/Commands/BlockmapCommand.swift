import ArgumentParser

/// `blockyard blockmap`: generate (default) or inspect electron-builder blockmaps.
struct BlockmapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blockmap",
        abstract: "Generate or inspect electron-builder .blockmap files.",
        discussion: """
            `blockyard blockmap --input F …` is a drop-in for `app-builder blockmap`: the same flags,
            the same info JSON on stdout, and blockmap JSON byte-identical to electron-builder's.
            """,
        subcommands: [BlockmapGenerateCommand.self, BlockmapInspectCommand.self],
        defaultSubcommand: BlockmapGenerateCommand.self)
}
