import ArgumentParser
import BlockyardCore
import BlockyardIO
import BlockyardStore

/// `blockyard store blockmap NAME@VERSION [--member PATH] [--output F.blockmap]`.
struct StoreBlockmapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blockmap",
        abstract: "Write the electron-builder blockmap of a stored file from its manifest.",
        discussion: """
            The chunk list in the manifest is the blockmap: no stored data is read.
            Without --output, prints the blockmap JSON; with it, writes the gzip'd
            blockmap and prints the info JSON {"size":N,"sha512":"…"}, exactly as
            `blockyard blockmap` does for the original file.

            A file stored with tensor-aware cuts (see `store ls NAME@VERSION`) has
            extra chunk boundaries: its blockmap is valid for electron-updater but
            not byte-identical to electron-builder's. --from-data re-chunks the
            stored bytes to produce electron-builder's exact blockmap.

            EXAMPLES
              blockyard store blockmap myapp@1.4.2 --output MyApp-1.4.2.exe.blockmap
              blockyard store blockmap app@2.3.0 --member MyApp.AppImage
            """)

    @Argument(help: "The version, as NAME@VERSION.")
    var ref: String

    @Option(help: "The member (needed when the version has several).")
    var member: String?

    @Option(name: .shortAndLong, help: "Write the gzip'd blockmap here and print the info JSON.")
    var output: String?

    @Option(help: "Blockmap generation to reproduce: electron-builder or app-builder.")
    var compat: BlockmapCompat = .electronBuilder

    @Flag(help: "Re-chunk the stored bytes instead of using the manifest's chunk list.")
    var fromData = false

    @OptionGroup var location: StoreLocation

    func run() throws {
        let ref = try StoreFailure.parse(self.ref)
        let store = try location.open(.read)
        let result = try StoreFailure.run { () throws(StoreError) -> BlockmapResult in
            let manifest = try store.manifest(ref)
            let member = try store.member(of: manifest, path: member)
            if case .symlink = member.kind {
                throw StoreError.invalidInput(path: "\(ref):\(member.path)", reason: "is a symbolic link")
            }
            if fromData { return try store.rechunkedBlockmap(member, of: ref, compat: compat) }
            if member.forcedCuts > 0 {
                Console.warning("\(ref) \(member.path) was stored with \(member.forcedCuts) tensor-aware cuts: this blockmap follows the store's chunks, not electron-builder's (use --from-data for those)")
            }
            return member.blockmap(compat: compat)
        }
        if let output {
            do {
                try AtomicFileWriter.write(BlockmapCodec.encodeGzip(result.blockmap), to: output)
            } catch {
                Console.error(error.description)
                throw ExitStatus.cannotCreate
            }
            Console.out(result.info.json, terminator: "")
        } else {
            Console.out(result.blockmap.json)
        }
    }
}
