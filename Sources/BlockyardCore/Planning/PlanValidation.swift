extension DeltaPlan {
    /// Checks that the plan is self-consistent before anything is written: the format, that
    /// the operations tile `[0, target.size)` in order, that copies stay inside their seeds,
    /// that repeats read only earlier bytes, and that the chunk list adds up.
    public func validate() throws(PlanFormatError) {
        guard format == Self.formatName else { throw .notAPlan(format: format) }
        guard formatVersion == Self.currentFormatVersion else { throw .unsupportedFormatVersion(formatVersion) }
        guard target.size >= 0 else { throw .negativeValue(field: "target.size") }
        guard target.entryOffset >= 0 else { throw .negativeValue(field: "target.entryOffset") }
        for seed in seeds where seed.size < 0 { throw .negativeValue(field: "seeds[\(seed.id)].size") }
        // Seeds are addressed by id; ids must be unique.
        var seedSizes: [Int: Int] = [:]
        for seed in seeds { seedSizes[seed.id] = seed.size }
        guard seedSizes.count == seeds.count else { throw .chunkListMismatch(reason: "seed ids are not unique") }

        var position = 0
        for (i, op) in operations.enumerated() {
            guard op.length >= 0 else { throw .negativeValue(field: "operations[\(i)].length") }
            guard op.sourceOffset >= 0 else { throw .negativeValue(field: "operations[\(i)].sourceOffset") }
            guard op.targetOffset == position else { throw .notContiguous(operation: i, expected: position, found: op.targetOffset) }
            let (end, o1) = position.addingReportingOverflow(op.length)
            let (_, o2) = op.sourceOffset.addingReportingOverflow(op.length)
            guard !o1, !o2 else { throw .overflow(operation: i) }
            switch op.kind {
            case .copy:
                guard let seed = op.seed, let size = seedSizes[seed] else { throw .unknownSeed(operation: i, seed: op.seed) }
                guard op.sourceOffset + op.length <= size else {
                    throw .seedRangeOutOfBounds(operation: i, seed: seed, offset: op.sourceOffset, length: op.length, seedSize: size)
                }
            case .duplicate:
                guard op.length == 0 || op.sourceOffset < op.targetOffset else {
                    throw .duplicateSourceNotEarlier(operation: i, sourceOffset: op.sourceOffset, targetOffset: op.targetOffset)
                }
            case .fetch:
                break
            }
            position = end
        }
        guard position == target.size else { throw .sizeMismatch(operationsEnd: position, targetSize: target.size) }
        if let chunks = target.chunks {
            guard chunks.sizes.count == chunks.checksums.count else {
                throw .chunkListMismatch(reason: "\(chunks.checksums.count) checksums but \(chunks.sizes.count) sizes")
            }
            var total = 0
            for size in chunks.sizes {
                guard size >= 0 else { throw .chunkListMismatch(reason: "a chunk size is negative") }
                let (sum, overflow) = total.addingReportingOverflow(size)
                guard !overflow else { throw .chunkListMismatch(reason: "the chunk sizes overflow") }
                total = sum
            }
            guard total == target.size else {
                throw .chunkListMismatch(reason: "the chunks add up to \(total) bytes, the target is \(target.size) bytes")
            }
        }
    }

    /// Whether the plan's chunk checksums are BLAKE2b-18 values Blockyard can recompute:
    /// the plan carries them and the new blockmap is version 2 (electron-builder's format;
    /// other versions may use another checksum, so they are compared only as opaque strings).
    public var canVerifyChunks: Bool {
        target.chunks != nil && target.blockmapVersion == "2"
    }

    /// The seed with this id.
    public func seed(id: Int) -> PlanSeedInfo? { seeds.first { $0.id == id } }
}
