import ArgumentParser
import BlockyardStore

/// `blockyard store stats`.
struct StoreStatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Show chunks, logical and stored bytes, and dedup ratios.",
        discussion: """
            logical   bytes of all versions together, as they would be on disk
            stored    bytes of the distinct chunks (each chunk once)
            ratio     logical / stored
            Per name, "unique" counts the distinct chunks of that name's versions
            (a chunk shared with another name counts for both). The LMDB file
            line shows the pages in use and the disk blocks the file occupies.

            EXAMPLES
              blockyard store stats
              blockyard store stats --json
            """)

    @OptionGroup var location: StoreLocation

    @Flag(help: "Print the result as JSON.")
    var json = false

    struct Output: Encodable {
        struct Name: Encodable {
            var name: String
            var versions: Int
            var logicalBytes: Int
            var uniqueBytes: Int
            var uniqueChunks: Int
            var dedupRatio: Double?
        }

        var path: String
        var versions: Int
        var chunks: Int
        var logicalBytes: Int
        var physicalBytes: Int
        var dedupRatio: Double?
        var unreferencedChunks: Int
        var unreferencedBytes: Int
        var usedFileBytes: Int
        var allocatedFileBytes: Int
        var mapBytes: Int
        var names: [Name]
    }

    func run() throws {
        let store = try location.open(.read)
        let s = try StoreFailure.run { () throws(StoreError) in try store.stats() }
        if json {
            Console.out(Console.json(Output(
                path: location.path, versions: s.versions, chunks: s.chunks, logicalBytes: s.logicalBytes,
                physicalBytes: s.physicalBytes, dedupRatio: s.dedupRatio, unreferencedChunks: s.unreferencedChunks,
                unreferencedBytes: s.unreferencedBytes, usedFileBytes: s.usedFileBytes,
                allocatedFileBytes: s.allocatedFileBytes, mapBytes: s.mapBytes,
                names: s.names.map { .init(name: $0.name, versions: $0.versions, logicalBytes: $0.logicalBytes,
                                           uniqueBytes: $0.uniqueBytes, uniqueChunks: $0.uniqueChunks,
                                           dedupRatio: $0.dedupRatio) })))
            return
        }
        Console.out("store:    \(location.path)")
        Console.out("versions: \(s.versions)")
        Console.out("chunks:   \(StoreFormatting.count(s.chunks))")
        Console.out("logical:  \(HumanSize.format(s.logicalBytes))")
        Console.out("stored:   \(HumanSize.format(s.physicalBytes)) (dedup ratio \(StoreFormatting.ratio(s.dedupRatio)))")
        if s.unreferencedChunks > 0 {
            Console.out("garbage:  \(HumanSize.format(s.unreferencedBytes)) in \(StoreFormatting.count(s.unreferencedChunks)) unreferenced chunks (`blockyard store gc` removes them)")
        }
        Console.out("LMDB:     \(HumanSize.format(s.usedFileBytes)) of pages in use, \(HumanSize.format(s.allocatedFileBytes)) on disk, map \(HumanSize.format(s.mapBytes))")
        guard !s.names.isEmpty else { return }
        Console.out("")
        let width = max(4, s.names.map(\.name.count).max() ?? 0)
        Console.out("NAME".padding(toLength: width, withPad: " ", startingAt: 0) + "  VERSIONS     LOGICAL      UNIQUE   RATIO")
        for n in s.names {
            Console.out(n.name.padding(toLength: max(width, n.name.count), withPad: " ", startingAt: 0)
                + "  " + StoreFormatting.right(String(n.versions), 8)
                + "  " + StoreFormatting.right(HumanSize.format(n.logicalBytes), 10)
                + "  " + StoreFormatting.right(HumanSize.format(n.uniqueBytes), 10)
                + "  " + StoreFormatting.right(StoreFormatting.ratio(n.dedupRatio), 6))
        }
    }
}
