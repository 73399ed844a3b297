import ArgumentParser
import BlockyardCore
import BlockyardHTTP
import BlockyardIO
import Foundation

/// `blockyard apply PLAN --source FILE --out NEW --expect-sha512 B64 [--size N]`.
struct ApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Build a new file from a plan, seeds and fetched ranges; verified.",
        discussion: """
            Reads a plan written by `blockyard plan --json`, copies from the seeds it
            names and fetches the other ranges from --source: a local copy of the new
            file, or its http(s) URL (the ranges are then downloaded as `blockyard
            update` downloads them, resumable). The file is written to a temporary
            file in the target directory; its SHA-512 is computed by reading that
            file back from disk, then it is fsync'd and renamed over --out.

            On any mismatch (size, SHA-512, a seed that changed after its blockmap
            was made, a short source) the temporary file is removed, --out and every
            seed are left untouched, and the reason is printed (exit 1). When the
            plan carries chunk checksums the message names the first bad chunk and the
            seed and offset it was copied from.

            EXAMPLES
              blockyard plan new.blockmap --seed old.exe --json > plan.json
              blockyard apply plan.json --source mirror/MyApp-1.3.0.exe \\
                  --out MyApp.exe --expect-sha512 'Gw…aA==' --size 50331748
            """)

    @Argument(help: ArgumentHelp("A plan written by `blockyard plan --json`.", valueName: "PLAN"))
    var plan: String

    @Option(help: ArgumentHelp("Where fetched ranges come from: a local file or an http(s) URL.", valueName: "FILE"))
    var source: String

    @Option(help: ArgumentHelp("The file to create or replace.", valueName: "NEW"))
    var out: String

    @Option(name: .customLong("expect-sha512"),
            help: ArgumentHelp("SHA-512 of the new file: base64 (as in latest.yml) or hex.", valueName: "B64"))
    var expectSHA512: String

    @Option(help: "Expected size of the new file.")
    var size: Int?

    @Option(name: .customLong("seed"),
            help: ArgumentHelp("Seed files in seed order, instead of the plan's paths.", valueName: "FILE"))
    var seeds: [String] = []

    @Flag(help: "Check every chunk against the plan while writing; stop at the first bad one.")
    var verifyChunks = false

    @Flag(help: "Print the result as JSON.")
    var json = false

    func validate() throws {
        do {
            _ = try ExpectedDigest.sha512(expectSHA512)
        } catch {
            throw ValidationError(error.description)
        }
        if let size, size < 0 { throw ValidationError("--size must be >= 0") }
    }

    func run() throws {
        let plan: DeltaPlan
        do {
            let bytes = try FileInput.readAll(path: self.plan, limit: 2 << 30)
            plan = try JSONDecoder().decode(DeltaPlan.self, from: Data(bytes))
            try plan.validate()
        } catch let error as FileError {
            Console.error(error.description)
            throw ExitStatus.forInput(error)
        } catch let error as PlanFormatError {
            Console.error("\(self.plan): \(error.description)")
            throw ExitStatus.dataError
        } catch let error as DecodingError {
            Console.error("\(self.plan): not a valid Blockyard plan: \(Self.describe(error))")
            throw ExitStatus.dataError
        } catch {
            Console.error("\(self.plan): not a valid Blockyard plan: \(error)")
            throw ExitStatus.dataError
        }
        if !seeds.isEmpty && seeds.count != plan.seeds.count {
            Console.error("the plan has \(plan.seeds.count) seed\(plan.seeds.count == 1 ? "" : "s") but \(seeds.count) --seed option\(seeds.count == 1 ? " was" : "s were") given")
            throw ExitStatus.usage
        }
        if verifyChunks && !plan.canVerifyChunks {
            Console.warning("--verify-chunks: the plan carries no BLAKE2b-18 chunk checksums (made with --no-chunk-checksums, or from a blockmap that is not version 2); only the whole file's SHA-512 is checked")
        }
        var seedPaths: [Int: String] = [:]
        for (seed, path) in zip(plan.seeds, seeds) { seedPaths[seed.id] = path }

        let bar = ProgressBar(label: out, total: plan.target.size)
        let report: FileApplyReport
        var download: RangeDownloadReport?
        do {
            let expected = try ExpectedDigest.sha512(expectSHA512)
            if let url = HTTPApplySource.url(source) {
                let result = try HTTPApplySource.apply(plan: plan, url: url, expectedSHA512: expected, out: out,
                                                       seedPaths: seedPaths, size: size, verifyChunks: verifyChunks)
                (report, download) = (result.apply, result.download)
            } else {
                let rangeSource = try LocalFileRangeSource(path: source)
                report = try FileApplier.apply(
                    plan: plan, source: rangeSource, to: out, expectedSHA512: expected,
                    options: FileApplyOptions(seedPaths: seedPaths, expectedSize: size, verifyChunks: verifyChunks,
                                              progress: bar.advance(by:)))
            }
            bar.finish()
        } catch {
            bar.finish()
            throw Self.fail(error)
        }
        if json {
            Console.out(Console.json(report))
            return
        }
        let s = report.statistics
        Console.out("\(out): \(report.size) bytes written and SHA-512 verified on disk")
        Console.out("  fetched   \(s.bytesFetched) bytes in \(s.ranges) range\(s.ranges == 1 ? "" : "s"), \(s.requests) request\(s.requests == 1 ? "" : "s")")
        if let d = download {
            Console.out("  network   \(d.payloadBytes) bytes downloaded in \(d.rangeRequests) request\(d.rangeRequests == 1 ? "" : "s") (\(d.transport))\(d.resumedBytes > 0 ? ", \(d.resumedBytes) resumed" : "")")
        }
        Console.out("  copied    \(s.bytesCopied) bytes from seeds, \(s.bytesDuplicated) repeated within the file")
        if s.chunksVerified > 0 { Console.out("  chunks    \(s.chunksVerified) verified while writing") }
        Console.out(String(format: "  time      %.2f s to build and verify, %.2f s to sync and rename",
                           report.buildSeconds, report.syncSeconds))
    }

    /// Prints the reason and picks the exit code.
    static func fail(_ error: any Error) -> ExitCode {
        switch error {
        case let e as UpdateError:
            return UpdateCommand.fail(e)
        case let e as ApplyError:
            Console.error(e.description)
            if case .invalidExpectedDigest = e { return ExitStatus.usage }
            return ExitStatus.checkFailed
        case let e as PlanFormatError:
            Console.error(e.description)
            return ExitStatus.dataError
        case let e as FileApplyError:
            Console.error(e.description)
            switch e {
            case .seed(_, let f), .source(let f): return ExitStatus.forInput(f)
            case .createOutput: return ExitStatus.cannotCreate
            case .writeOutput: return ExitStatus.ioError
            }
        case let e as FileError:
            Console.error(e.description)
            return ExitStatus.ioError
        default:
            Console.error("\(error)")
            return ExitStatus.ioError
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let p = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return p.isEmpty ? "" : " at \(p.hasPrefix(".") ? String(p.dropFirst()) : p)"
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "missing \"\(key.stringValue)\"\(path(context))"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "\(context.debugDescription)\(path(context))"
        case .dataCorrupted(let context):
            return "\(context.debugDescription)\(path(context))"
        @unknown default:
            return "\(error)"
        }
    }
}
