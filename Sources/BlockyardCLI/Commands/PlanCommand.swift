import ArgumentParser
import BlockyardCore
import BlockyardIO
import Foundation

/// `blockyard plan NEW.blockmap --seed OLD [--seed-blockmap OLD.blockmap] …`.
struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Plan a differential update: which byte ranges to download, what to copy.",
        discussion: """
            Reads the new file's blockmap and one or more seeds (files the client
            already has: the installed version, any older version, any file that may
            share content). A seed given with --seed-blockmap uses that blockmap;
            without one Blockyard chunks the seed itself, so no old blockmap is needed.
            The n-th --seed-blockmap belongs to the n-th --seed: list seeds that have
            a blockmap first.

            A chunk matches only on equal checksum and size. A chunk that occurs
            several times in the new file is fetched once and repeated. Fetch ranges
            are merged across gaps of at most --gap bytes (default: the 100-byte
            per-range overhead), and further when needed to stay within --max-ops;
            see docs/PLANNER.md for the cost model.

            --compat electron-updater reproduces electron-updater's computeOperations
            exactly (one seed, first occurrence wins), for comparison.

            `plan --json > plan.json` writes the plan that `blockyard apply` reads.

            EXAMPLES
              blockyard plan MyApp-1.3.0.exe.blockmap --seed MyApp-1.2.0.exe \\
                  --seed-blockmap MyApp-1.2.0.exe.blockmap
              blockyard plan new.blockmap --seed /opt/MyApp/app.AppImage --json \\
                  > plan.json
              blockyard plan new.blockmap --seed old.exe --seed-blockmap old.blockmap \\
                  --compat electron-updater
            """)

    enum Compat: String, ExpressibleByArgument, CaseIterable {
        case electronUpdater = "electron-updater"
    }

    @Argument(help: ArgumentHelp("The new file's .blockmap (gzip'd JSON).", valueName: "NEW.blockmap"))
    var newBlockmap: String

    @Option(name: .customLong("seed"), help: ArgumentHelp("A local file to reuse bytes from (repeatable).", valueName: "FILE"))
    var seeds: [String] = []

    @Option(name: .customLong("seed-blockmap"),
            help: ArgumentHelp("The .blockmap of the n-th --seed (repeatable).", valueName: "BLOCKMAP"))
    var seedBlockmaps: [String] = []

    @Option(help: ArgumentHelp("Reproduce another planner exactly: electron-updater.", valueName: "PLANNER"))
    var compat: Compat?

    @Flag(help: "Print the plan as JSON (the input of `blockyard apply`).")
    var json = false

    @Option(help: "Ranges per multi-range request.")
    var maxRangesPerRequest = PlanCostModel.defaultMaxRangesPerRequest

    @Option(help: "Most operations in the plan (0: no limit).")
    var maxOps = PlanCostModel.defaultMaxOps

    @Option(help: ArgumentHelp("Merge fetch ranges separated by at most this many bytes.", valueName: "BYTES"))
    var gap: Int?

    @Option(help: ArgumentHelp("Bytes each fetch range costs on the wire.", valueName: "BYTES"))
    var rangeOverhead = PlanCostModel.defaultRangeOverhead

    @Option(help: ArgumentHelp("Bytes each request costs on the wire.", valueName: "BYTES"))
    var requestOverhead = PlanCostModel.defaultRequestOverhead

    @Option(help: "Expected size of the new file: its blockmap must add up to it.")
    var size: Int?

    @Flag(help: "Leave the new blockmap's chunk checksums out of the JSON plan.")
    var noChunkChecksums = false

    func validate() throws {
        if seeds.isEmpty { throw ValidationError("give at least one --seed FILE") }
        if seedBlockmaps.count > seeds.count {
            throw ValidationError("\(seedBlockmaps.count) --seed-blockmap options but only \(seeds.count) --seed; the n-th --seed-blockmap belongs to the n-th --seed")
        }
        if compat == .electronUpdater && seeds.count != 1 {
            throw ValidationError("--compat electron-updater plans from exactly one --seed, as electron-updater does")
        }
        do {
            try costModel.validate()
        } catch {
            throw ValidationError(error.description)
        }
    }

    var costModel: PlanCostModel {
        PlanCostModel(rangeOverhead: rangeOverhead, requestOverhead: requestOverhead, gap: gap,
                      maxRangesPerRequest: maxRangesPerRequest, maxOps: maxOps)
    }

    func run() throws {
        let target = try readBlockmap(newBlockmap)
        // A locally chunked seed uses the same generation of the chunker as the new blockmap,
        // so electron-updater mode sees what the real old blockmap would hold.
        let form: BlockmapCompat = target.files.first?.sizes.last == 0 ? .appBuilder : .electronBuilder
        var inputs: [PlanSeedInput] = []
        for (i, path) in seeds.enumerated() {
            let fileSize = try seedSize(path)
            if i < seedBlockmaps.count {
                let blockmap = try readBlockmap(seedBlockmaps[i])
                inputs.append(PlanSeedInput(path: path, size: fileSize, blockmap: blockmap, blockmapPath: seedBlockmaps[i]))
            } else {
                let bar = ProgressBar(label: "chunking \(path)", total: fileSize)
                let result: (blockmap: Blockmap, size: Int)
                do {
                    result = try BlockmapGenerator.chunk(path: path, compat: form, progress: bar.advance(by:))
                } catch let error as FileError {
                    bar.finish()
                    Console.error(error.description)
                    throw ExitStatus.forInput(error)
                }
                bar.finish()
                inputs.append(PlanSeedInput(path: path, size: result.size, blockmap: result.blockmap))
            }
        }
        let options = PlanOptions(mode: compat == .electronUpdater ? .electronUpdater : .blockyard, costModel: costModel,
                                  includeChunks: !noChunkChecksums, expectedTargetSize: size,
                                  targetBlockmapPath: newBlockmap)
        let plan: DeltaPlan
        do {
            plan = try DeltaPlanner.plan(target: target, seeds: inputs, options: options)
        } catch {
            Console.error(error.description)
            throw ExitStatus.dataError
        }
        if json {
            Console.out(Console.json(plan))
            return
        }
        var comparison: Result<DeltaPlan, PlanError>?
        if plan.mode == .blockyard && inputs.count == 1 {
            var compatOptions = options
            compatOptions.mode = .electronUpdater
            compatOptions.includeChunks = false
            comparison = Result { () throws(PlanError) in try DeltaPlanner.plan(target: target, seeds: inputs, options: compatOptions) }
        }
        PlanReport.print(plan, comparison: comparison)
    }

    private func readBlockmap(_ path: String) throws -> Blockmap {
        do {
            return try BlockmapCodec.decodeGzip(FileInput.readAll(path: path, limit: BlockmapCodec.maxDecodedSize))
        } catch let error as FileError {
            Console.error(error.description)
            throw ExitStatus.forInput(error)
        } catch let error as BlockmapError {
            Console.error("\(path): \(error.description)")
            throw ExitStatus.dataError
        }
    }

    private func seedSize(_ path: String) throws -> Int {
        do {
            let input = try FileInput(path: path)
            guard let size = input.regularFileSize else {
                throw FileError(path: path, kind: .notRegularFile, reason: "not a regular file (a seed must be a file)")
            }
            return size
        } catch let error as FileError {
            Console.error(error.description)
            throw ExitStatus.forInput(error)
        }
    }
}

/// The human-readable form of a plan.
enum PlanReport {
    static let listedOperations = 40

    static func print(_ plan: DeltaPlan, comparison: Result<DeltaPlan, PlanError>?) {
        let t = plan.totals
        let target = plan.target
        Console.out("new file    \(target.blockmap ?? "?"): \(target.size) bytes (\(HumanSize.format(target.size))), \(target.chunkCount) chunks, blockmap version \(target.blockmapVersion)")
        for seed in plan.seeds {
            let source = seed.blockmap.map { "blockmap \($0)" } ?? "chunked locally"
            Console.out("seed \(seed.id)".padding(12) + "\(seed.path): \(seed.size) bytes, \(source), \(seed.chunkCount) chunks; \(seed.bytesUsed) bytes used")
        }
        let m = plan.costModel
        switch plan.mode {
        case .blockyard:
            let limit = m.maxOps == 0 ? "no operation limit" : "<= \(m.maxOps) operations"
            Console.out("planner     blockyard: merge gaps <= \(m.gapThreshold) B, <= \(m.maxRangesPerRequest) ranges per request, \(limit)")
        case .electronUpdater:
            Console.out("planner     electron-updater computeOperations (exact reproduction)")
        }
        Console.out("fetch       \(t.fetchBytes) bytes (\(percent(t.fetchFraction))) in \(plural(t.fetchRanges, "range")), \(plural(t.fetchedChunks, "chunk"))")
        let multi = plan.mode == .electronUpdater ? "as electron-updater batches them" : "with multi-range"
        Console.out("requests    \(t.requests) \(multi), \(t.singleRangeRequests) with single-range requests")
        Console.out("reuse       \(t.reusedBytes) bytes (\(percent(t.reusedFraction))): \(t.copyBytes) copied from seeds, \(t.duplicateBytes) repeated within the new file")
        Console.out("operations  \(t.operations): \(t.copyOperations) copy, \(t.fetchRanges) fetch, \(t.duplicateOperations) duplicate")
        if plan.mode == .blockyard {
            Console.out("gap bytes   \(t.gapBytes) (available locally, fetched to merge ranges)")
        }
        if t.maxOpsBinding {
            Console.warning("the operation limit (--max-ops \(m.maxOps)) forced fetching \(t.gapBytes) bytes that are available locally; --max-ops 0 lifts it (only electron-updater's batching needs it)")
        }
        Console.out("wire        ~\(t.wireBytes) bytes (payload + \(m.rangeOverhead) B per range + \(m.requestOverhead) B per request)")
        switch comparison {
        case .success(let eu):
            let e = eu.totals
            Console.out("electron-updater would fetch \(e.fetchBytes) bytes in \(plural(e.fetchRanges, "range")) with \(plural(e.operations, "operation")) (~\(e.wireBytes) bytes on the wire)")
        case .failure(let error):
            Console.out("electron-updater would not update differentially: \(error.description)")
        case nil:
            break
        }
        guard !plan.operations.isEmpty else { return }
        Console.out("")
        Console.out("     #  kind         target offset          length  source")
        let ops = plan.operations
        let shown = ops.count <= listedOperations ? Array(ops.indices) : Array(0..<(listedOperations - 5)) + Array((ops.count - 5)..<ops.count)
        var previous = -1
        for i in shown {
            if i != previous + 1 { Console.out("   …  \(i - previous - 1) more operations (--json prints all)") }
            previous = i
            let op = ops[i]
            let source: String
            switch op.kind {
            case .copy: source = "seed \(op.seed ?? -1) @ \(op.sourceOffset)"
            case .fetch: source = "new file @ \(op.sourceOffset)"
            case .duplicate: source = "new file @ \(op.sourceOffset) (already written)"
            }
            Console.out(String(i).leftPad(6) + "  " + op.kind.rawValue.padding(9) + String(op.targetOffset).leftPad(16)
                        + String(op.length).leftPad(16) + "  " + source)
        }
    }

    static func percent(_ fraction: Double) -> String {
        String(format: "%.2f %%", fraction * 100)
    }

    static func plural(_ n: Int, _ word: String) -> String {
        "\(n) \(word)\(n == 1 ? "" : "s")"
    }
}

extension String {
    fileprivate func leftPad(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
