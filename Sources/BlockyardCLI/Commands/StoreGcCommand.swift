import ArgumentParser
import BlockyardStore

/// `blockyard store gc`.
struct StoreGcCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Delete chunks that no version references.",
        discussion: """
            Only chunks whose reference count is zero go: those of removed
            versions and those left by an interrupted add. Runs under the writer
            lock, so it never races an add. Freed pages are reused by later adds;
            the LMDB file does not shrink.

            EXAMPLES
              blockyard store gc --dry-run
              blockyard store gc
            """)

    @Flag(help: "Only report what would be deleted.")
    var dryRun = false

    @Flag(help: "Wait for another writer to finish instead of failing.")
    var wait = false

    @OptionGroup var location: StoreLocation

    @Flag(help: "Print the result as JSON.")
    var json = false

    struct Output: Encodable {
        var removedChunks: Int
        var removedBytes: Int
        var dryRun: Bool
    }

    func run() throws {
        let store = try location.open(.write, wait: wait, purpose: "store gc")
        let r = try StoreFailure.run { () throws(StoreError) in try store.collectGarbage(dryRun: dryRun) }
        if json {
            Console.out(Console.json(Output(removedChunks: r.removedChunks, removedBytes: r.removedBytes, dryRun: r.dryRun)))
        } else {
            Console.out("\(dryRun ? "would remove" : "removed") \(StoreFormatting.count(r.removedChunks)) unreferenced chunks (\(HumanSize.format(r.removedBytes)))")
        }
    }
}
