import BlockyardCore
import BlockyardTestSupport

/// Files described chunk by chunk: each chunk is `size` bytes of the SplitMix64 stream for
/// `id`, so equal ids mean equal content, and the blockmap carries the real BLAKE2b-18 of
/// every chunk. Lets planner tests state exactly which chunks two files share.
struct SynthFile {
    var bytes: [UInt8] = []
    var checksums: [ChunkChecksum] = []
    var sizes: [Int] = []

    init(_ chunks: [(id: UInt64, size: Int)]) {
        for (id, size) in chunks {
            let piece = VectorInputs.randomBytes(seed: id &* 7919 &+ 13, count: size)
            checksums.append(piece.withUnsafeBytes { ChunkChecksum(of: $0) })
            sizes.append(size)
            bytes += piece
        }
    }

    /// Chunks `ids`, all of `size` bytes.
    init(ids: [UInt64], size: Int = 1000) {
        self.init(ids.map { ($0, size) })
    }

    var blockmap: Blockmap { Blockmap(checksums: checksums, sizes: sizes) }

    func seed(_ path: String = "seed") -> PlanSeedInput {
        PlanSeedInput(path: path, size: bytes.count, blockmap: blockmap, blockmapPath: "\(path).blockmap")
    }
}

/// A blockmap of opaque chunks: checksum words derived from `id` (not real BLAKE2b), for
/// tests of the planning logic alone.
func opaqueBlockmap(_ chunks: [(id: UInt64, size: Int)], version: String = "2", name: String = "file", offset: Int = 0) -> Blockmap {
    Blockmap(version: version, files: [BlockmapFile(name: name, offset: offset,
                                                    checksums: chunks.map { ChunkChecksum($0.id &* 0x9E37_79B9_7F4A_7C15 | 1, $0.id, 7) },
                                                    sizes: chunks.map(\.size))])
}

func opaqueSeed(_ chunks: [(id: UInt64, size: Int)], path: String = "old", version: String = "2") -> PlanSeedInput {
    let blockmap = opaqueBlockmap(chunks, version: version)
    return PlanSeedInput(path: path, size: blockmap.totalSize, blockmap: blockmap)
}

/// Applies `plan` in memory; returns the rebuilt file.
func rebuild(_ plan: DeltaPlan, seeds: [[UInt8]], new: [UInt8], options: ApplyOptions = ApplyOptions(),
             pieceSize: Int = 1 << 20) throws -> [UInt8] {
    let output = MemoryApplyOutput(capacity: plan.target.size, bufferSize: 64 << 10)
    _ = try PlanExecutor.execute(plan, seeds: MemorySeeds(seeds), source: MemoryRangeSource(new, pieceSize: pieceSize),
                                 output: output, options: options)
    return output.bytes
}

extension DeltaPlan {
    /// Operations as compact tuples for exact comparisons: (kind, source offset, length).
    var opSummary: [String] {
        operations.map { op in
            switch op.kind {
            case .copy: return "C\(op.seed ?? -1)@\(op.sourceOffset)+\(op.length)"
            case .fetch: return "F@\(op.sourceOffset)+\(op.length)"
            case .duplicate: return "D@\(op.sourceOffset)+\(op.length)"
            }
        }
    }
}
