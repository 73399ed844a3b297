/// Why a plan could not be made. Each case names the input and the values involved.
public enum PlanError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The planner needs at least one seed.
    case noSeeds
    /// electron-updater mode works with exactly one old file.
    case compatNeedsOneSeed(count: Int)
    /// electron-updater's own check: `version is different (OLD - NEW), full download is required`.
    case versionMismatch(old: String, new: String)
    /// electron-updater's `no file NAME in old blockmap`.
    case noFileInOldBlockmap(name: String)
    /// A blockmap without any file entry.
    case noFiles(which: String)
    /// A file entry whose chunk sizes add up past the largest integer.
    case sizeOverflow(which: String)
    /// The new blockmap does not add up to the expected size of the new file.
    case targetSizeMismatch(expected: Int, blockmap: Int)
    /// A seed's blockmap does not describe a file of the seed's size.
    case seedSizeMismatch(seed: Int, path: String, blockmapBytes: Int, fileSize: Int)
    /// A checksum/size array length mismatch in a blockmap entry.
    case malformedBlockmap(which: String, reason: String)
    case invalidOption(String)

    public var description: String {
        switch self {
        case .noSeeds:
            return "no seed: give at least one --seed FILE the new file may share content with"
        case .compatNeedsOneSeed(let count):
            return "--compat electron-updater plans from exactly one old file, as electron-updater does (got \(count) seeds)"
        case .versionMismatch(let old, let new):
            return "version is different (\(old) - \(new)), full download is required (electron-updater compares the blockmap versions and refuses)"
        case .noFileInOldBlockmap(let name):
            return "no file \(name) in old blockmap"
        case .noFiles(let which):
            return "\(which): the blockmap has no file entry"
        case .sizeOverflow(let which):
            return "\(which): the chunk sizes add up to more than \(Int.max) bytes"
        case .targetSizeMismatch(let expected, let blockmap):
            return "the new blockmap describes \(blockmap) bytes but the new file is \(expected) bytes"
        case .seedSizeMismatch(let seed, let path, let blockmapBytes, let fileSize):
            return "seed \(seed) (\(path)): its blockmap describes \(blockmapBytes) bytes but the file is \(fileSize) bytes; the blockmap was not made from this file"
        case .malformedBlockmap(let which, let reason):
            return "\(which): \(reason)"
        case .invalidOption(let message):
            return message
        }
    }
}

/// Why a plan (read back from JSON) cannot be applied: it is not self-consistent.
public enum PlanFormatError: Error, Equatable, Sendable, CustomStringConvertible {
    case notAPlan(format: String)
    case unsupportedFormatVersion(Int)
    case negativeValue(field: String)
    case notContiguous(operation: Int, expected: Int, found: Int)
    case unknownSeed(operation: Int, seed: Int?)
    case seedRangeOutOfBounds(operation: Int, seed: Int, offset: Int, length: Int, seedSize: Int)
    case duplicateSourceNotEarlier(operation: Int, sourceOffset: Int, targetOffset: Int)
    case sizeMismatch(operationsEnd: Int, targetSize: Int)
    case chunkListMismatch(reason: String)
    case overflow(operation: Int)

    public var description: String {
        switch self {
        case .notAPlan(let format):
            return "not a Blockyard plan (format is \"\(format)\", expected \"\(DeltaPlan.formatName)\")"
        case .unsupportedFormatVersion(let v):
            return "plan format version \(v) is not supported (this blockyard reads version \(DeltaPlan.currentFormatVersion))"
        case .negativeValue(let field):
            return "invalid plan: \(field) is negative"
        case .notContiguous(let op, let expected, let found):
            return "invalid plan: operation #\(op) starts at target offset \(found), expected \(expected) (operations must tile the new file in order)"
        case .unknownSeed(let op, let seed):
            return "invalid plan: copy operation #\(op) names seed \(seed.map(String.init) ?? "(none)"), which the plan does not list"
        case .seedRangeOutOfBounds(let op, let seed, let offset, let length, let seedSize):
            return "invalid plan: operation #\(op) copies bytes \(offset)..<\(offset + length) of seed \(seed), which has only \(seedSize) bytes"
        case .duplicateSourceNotEarlier(let op, let source, let target):
            return "invalid plan: duplicate operation #\(op) reads from offset \(source), which is not before its target offset \(target)"
        case .sizeMismatch(let end, let size):
            return "invalid plan: the operations cover \(end) bytes but the target is \(size) bytes"
        case .chunkListMismatch(let reason):
            return "invalid plan: target chunks: \(reason)"
        case .overflow(let op):
            return "invalid plan: operation #\(op) has offsets beyond the largest integer"
        }
    }
}

/// A chunk of the rebuilt file whose BLAKE2b-18 differs from the new blockmap, with the
/// operation that produced it.
public struct ChunkMismatch: Equatable, Sendable, CustomStringConvertible {
    public var chunkIndex: Int
    public var targetOffset: Int
    public var size: Int
    public var expected: ChunkChecksum
    public var actual: ChunkChecksum
    /// Index of the operation holding the chunk's first byte.
    public var operationIndex: Int
    public var operation: PlanOperation
    /// The seed's path for a copy operation.
    public var seedPath: String?
    /// Whether the chunk spans more than one operation.
    public var spansOperations: Bool

    public init(chunkIndex: Int, targetOffset: Int, size: Int, expected: ChunkChecksum, actual: ChunkChecksum,
                operationIndex: Int, operation: PlanOperation, seedPath: String?, spansOperations: Bool) {
        self.chunkIndex = chunkIndex
        self.targetOffset = targetOffset
        self.size = size
        self.expected = expected
        self.actual = actual
        self.operationIndex = operationIndex
        self.operation = operation
        self.seedPath = seedPath
        self.spansOperations = spansOperations
    }

    /// Where in the operation's source the chunk came from.
    public var sourceOffset: Int { operation.sourceOffset + (targetOffset - operation.targetOffset) }

    public var description: String {
        let what = "chunk #\(chunkIndex) of the new file (offset \(targetOffset), \(size) bytes)"
        let sums = "has checksum \(actual.base64), the new blockmap says \(expected.base64)"
        let more = spansOperations ? " and the following operation(s)" : ""
        switch operation.kind {
        case .copy:
            let seed = operation.seed ?? -1
            return "\(what), copied from seed \(seed) (\(seedPath ?? "?")) at offset \(sourceOffset) by operation #\(operationIndex)\(more), \(sums): the seed is not the file its blockmap describes (changed after the blockmap was made?)"
        case .fetch:
            return "\(what), fetched from the range source at offset \(sourceOffset) by operation #\(operationIndex)\(more), \(sums): the source does not serve the file the new blockmap describes"
        case .duplicate:
            return "\(what), repeated from offset \(sourceOffset) of the new file by operation #\(operationIndex)\(more), \(sums)"
        }
    }
}

/// Why applying a plan failed. Nothing is left behind when any of these is thrown by the
/// file applier: the temporary file is removed and the destination is untouched.
public enum ApplyError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A chunk did not match the new blockmap (seed changed, wrong source).
    case chunkMismatch(ChunkMismatch)
    /// The whole file's SHA-512 is not the expected one. `diagnosis` names the first bad
    /// chunk when the plan carries chunk checksums and one differs.
    case sha512Mismatch(expected: String, actual: String, diagnosis: ChunkMismatch?, chunksChecked: Bool)
    /// `--size` differs from the size the plan builds.
    case sizeMismatch(expected: Int, plan: Int)
    /// The written file does not have the planned size.
    case outputSizeMismatch(expected: Int, actual: Int)
    /// A seed's size is not the one recorded in the plan.
    case seedChanged(seed: Int, path: String, plannedSize: Int, actualSize: Int)
    /// A seed ended before the bytes a copy operation needs.
    case seedTruncated(seed: Int, path: String, offset: Int)
    /// The range source delivered fewer bytes than requested.
    case sourceShort(delivered: Int, expected: Int)
    /// The range source delivered more bytes than requested.
    case sourceExcess(expected: Int)
    /// The range source cannot serve a range (e.g. beyond its end).
    case sourceRange(offset: Int, length: Int, sourceSize: Int)
    /// `--expect-sha512` is neither 88 characters of base64 nor 128 hex digits.
    case invalidExpectedDigest(String)

    public var description: String {
        switch self {
        case .chunkMismatch(let m):
            return m.description
        case .sha512Mismatch(let expected, let actual, let diagnosis, let checked):
            var s = "sha512 checksum mismatch: expected \(expected), got \(actual)"
            if let diagnosis {
                s += "; first bad chunk: \(diagnosis.description)"
            } else if checked {
                s += "; every chunk matches the new blockmap, so the blockmap does not describe the expected file (made before signing?) or the expected SHA-512 is wrong"
            }
            return s
        case .sizeMismatch(let expected, let plan):
            return "size mismatch: --size is \(expected) but the plan builds \(plan) bytes"
        case .outputSizeMismatch(let expected, let actual):
            return "the written file has \(actual) bytes, expected \(expected)"
        case .seedChanged(let seed, let path, let planned, let actual):
            return "seed \(seed) (\(path)) is \(actual) bytes but the plan was made for \(planned) bytes: it changed after planning"
        case .seedTruncated(let seed, let path, let offset):
            return "seed \(seed) (\(path)) ended at byte \(offset) while copying from it: it changed during the update"
        case .sourceShort(let delivered, let expected):
            return "the range source delivered \(delivered) of \(expected) bytes"
        case .sourceExcess(let expected):
            return "the range source delivered more than the \(expected) bytes requested"
        case .sourceRange(let offset, let length, let size):
            return "the range source cannot serve bytes \(offset)..<\(offset + length): it has only \(size) bytes"
        case .invalidExpectedDigest(let text):
            return "expected SHA-512 \"\(text.prefix(140))\" is neither 88 characters of base64 nor 128 hex digits"
        }
    }
}

/// Parsing of expected SHA-512 values as electron-builder writes them (base64) or as
/// `sha512sum` prints them (hex).
public enum ExpectedDigest {
    /// The 64 digest bytes of `text`: 88 characters of base64 or 128 hex digits.
    public static func sha512(_ text: String) throws(ApplyError) -> [UInt8] {
        let trimmed = text.trimmingSpaces
        if trimmed.utf8.count == 128, let bytes = Hex.decode(trimmed), bytes.count == 64 { return bytes }
        if trimmed.utf8.count == 88, let bytes = Base64.decode(trimmed), bytes.count == 64 { return bytes }
        throw .invalidExpectedDigest(text)
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\n" || f == "\t" || f == "\r" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\n" || l == "\t" || l == "\r" { s = s.dropLast() }
        return String(s)
    }
}
