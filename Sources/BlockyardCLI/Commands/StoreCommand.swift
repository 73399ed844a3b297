import ArgumentParser
import BlockyardCore
import BlockyardIO
import BlockyardStore
import Foundation

/// `blockyard store …`: the deduplicating content-addressed chunk store.
struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Keep every released version, storing each distinct chunk once.",
        discussion: """
            An embedded LMDB store of chunks (cut exactly like electron-builder's
            blockmaps, keyed by SHA-256) and one manifest per NAME@VERSION, from
            which any version is rebuilt byte for byte and verified (docs/STORE.md).

            The store is --path DIR, else $BLOCKYARD_STORE, else ./.blockyard/store.
            Readers (cat, export, ls, stats, blockmap, verify) never wait; add, rm
            and gc take the store's writer lock.

            EXAMPLES
              blockyard store init
              blockyard store add model-1.0.safetensors --name model --version 1.0
              blockyard store add dist/ --name app --version 2.3.0
              blockyard store cat model@1.0 > model.safetensors
              blockyard store stats

            EXIT CODES (besides those of `blockyard --help`)
              1   corruption found, or rebuilt bytes did not verify
              66  no store at the path, or no such NAME@VERSION
              73  NAME@VERSION exists with other content; cannot write output
              75  the store is locked by another writer (retry, or --wait)
            """,
        subcommands: [
            StoreInitCommand.self,
            StoreAddCommand.self,
            StoreCatCommand.self,
            StoreExportCommand.self,
            StoreLsCommand.self,
            StoreStatsCommand.self,
            StoreBlockmapCommand.self,
            StoreRmCommand.self,
            StoreGcCommand.self,
            StoreVerifyCommand.self,
        ])
}

/// `--path`, shared by every store subcommand.
struct StoreLocation: ParsableArguments {
    @Option(name: .customLong("path"), help: ArgumentHelp("The store directory (default: $BLOCKYARD_STORE, else ./.blockyard/store).", valueName: "DIR"))
    var explicitPath: String?

    var path: String { explicitPath ?? ChunkStore.defaultPath() }

    func open(_ access: ChunkStore.Access, wait: Bool = false, purpose: String = "blockyard store") throws -> ChunkStore {
        var options = ChunkStore.Options()
        options.waitForLock = wait
        options.purpose = purpose
        return try StoreFailure.run { () throws(StoreError) in try ChunkStore.open(at: path, access: access, options: options) }
    }
}

/// Turns store errors into one line on stderr and the documented exit code.
enum StoreFailure {
    static let locked = ExitCode(75)

    static func exitCode(for error: StoreError) -> ExitCode {
        switch error {
        case .missing, .versionNotFound, .memberNotFound: return ExitStatus.noInput
        case .notAStore, .newerFormat, .invalidInput: return ExitStatus.dataError
        case .locked: return locked
        case .invalidReference, .memberRequired: return ExitStatus.usage
        case .versionExists: return ExitStatus.cannotCreate
        case .corruptManifest, .corruption: return ExitStatus.checkFailed
        case .lmdb: return ExitStatus.ioError
        case .file(let e): return ExitStatus.forInput(e)
        }
    }

    /// Runs `body`; a ``StoreError`` is printed and becomes its exit code.
    static func run<T>(_ body: () throws(StoreError) -> T) throws -> T {
        do {
            return try body()
        } catch {
            Console.error(error.description)
            throw exitCode(for: error)
        }
    }

    static func parse(_ text: String) throws -> VersionRef {
        try run { () throws(StoreError) in try VersionRef(parsing: text) }
    }
}

/// Formatting shared by the store subcommands.
enum StoreFormatting {
    static func ratio(_ value: Double?) -> String {
        guard let value else { return "n/a" }
        return String(format: "%.2f", value)
    }

    static func date(_ milliseconds: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
    }

    /// `text` right-aligned in `width` columns.
    static func right(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }

    static func count(_ n: Int) -> String {
        let digits = String(n)
        var out = ""
        for (i, c) in digits.reversed().enumerated() {
            if i > 0 && i % 3 == 0 && c != "-" { out.append(",") }
            out.append(c)
        }
        return String(out.reversed())
    }
}
