import ArgumentParser
import BlockyardStore

/// `blockyard store verify [--full]`.
struct StoreVerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Re-hash every chunk and check every manifest and reference count.",
        discussion: """
            Checks that each chunk hashes to its key and blockmap checksum, that
            every manifest refers only to chunks that are present with the sizes
            and checksums it records, and that every reference count is right.
            --full also rebuilds every file and checks its SHA-512 and SHA-256.
            Reports each problem and exits 1 if there is any. Unreferenced chunks
            (from an interrupted add or a removed version) are not a problem.

            EXAMPLES
              blockyard store verify
              blockyard store verify --full --json
            """)

    @Flag(help: "Also rebuild every file and check its digests.")
    var full = false

    @OptionGroup var location: StoreLocation

    @Flag(help: "Print the result as JSON.")
    var json = false

    struct Output: Encodable {
        var ok: Bool
        var chunks: Int
        var chunkBytes: Int
        var manifests: Int
        var filesRebuilt: Int
        var unreferencedChunks: Int
        var unreferencedBytes: Int
        var problems: [String]
    }

    func run() throws {
        let store = try location.open(.read)
        let bar = ProgressBar(label: "verify", total: (try? store.stats(perName: false).physicalBytes) ?? 0)
        let r = try StoreFailure.run { () throws(StoreError) in try store.verify(full: full, progress: { bar.advance(by: $0) }) }
        bar.finish()
        if json {
            Console.out(Console.json(Output(ok: r.ok, chunks: r.chunks, chunkBytes: r.chunkBytes, manifests: r.manifests,
                                            filesRebuilt: r.membersRebuilt, unreferencedChunks: r.unreferencedChunks,
                                            unreferencedBytes: r.unreferencedBytes, problems: r.problems)))
        } else {
            r.problems.forEach { Console.out("PROBLEM: \($0)") }
            var line = "\(r.ok ? "OK" : "FAILED"): \(StoreFormatting.count(r.chunks)) chunks (\(HumanSize.format(r.chunkBytes))), \(r.manifests) manifests"
            if full { line += ", \(r.membersRebuilt) files rebuilt" }
            if r.unreferencedChunks > 0 {
                line += "; \(StoreFormatting.count(r.unreferencedChunks)) unreferenced chunks (\(HumanSize.format(r.unreferencedBytes))) for `store gc`"
            }
            if !r.ok { line += "; \(r.problems.count) problem\(r.problems.count == 1 ? "" : "s")" }
            Console.out(line)
        }
        if !r.ok { throw ExitStatus.checkFailed }
    }
}
