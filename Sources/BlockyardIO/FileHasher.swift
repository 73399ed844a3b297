import BlockyardCore
import Foundation

/// Size, SHA-256 and SHA-512 of one file.
public struct FileDigests: Sendable, Equatable {
    public var size: Int
    public var sha256: Digest
    public var sha512: Digest
}

/// Computes SHA-512 and SHA-256 of a file in one read: the calling thread reads large blocks
/// into a ring while one thread per digest hashes them, so both digests together take about
/// as long as SHA-512 alone. Memory is constant (4 × 4 MiB).
public enum FileHasher {
    public static let blockSize = 4 << 20

    /// Hashes `path` (`-` is standard input). `progress` receives byte counts as blocks are read.
    public static func hash(path: String, progress: ((Int) -> Void)? = nil) throws(FileError) -> FileDigests {
        let input = try FileInput(path: path)
        if input.regularFileSize != nil {
            posix_fadvise(input.descriptor, 0, 0, POSIX_FADV_SEQUENTIAL)
        }
        let ring = BlockRing(slots: 4, blockSize: blockSize, consumers: 2)
        let sha512 = HasherBox(SHA2Hasher(.sha512))
        let sha256 = HasherBox(SHA2Hasher(.sha256))
        let workers = [sha512, sha256].enumerated().map { consumer, box in
            WorkerThread(name: "blockyard-hash-\(consumer)") {
                var index = 0
                while let block = ring.block(index) {
                    box.hasher.update(block)
                    ring.release(index, consumer: consumer)
                    index += 1
                }
            }
        }
        var size = 0
        var failure: FileError?
        var index = 0
        while true {
            let slot = ring.slotForWriting(index)
            let n: Int
            do {
                n = try input.readFully(into: slot)
            } catch {
                failure = error
                break
            }
            if n == 0 { break }
            ring.publish(index, length: n)
            size += n
            progress?(n)
            index += 1
            if n < blockSize && input.regularFileSize != nil { break }
        }
        ring.end()
        workers.forEach { $0.join() }
        if let failure { throw failure }
        return FileDigests(size: size, sha256: sha256.hasher.finalize(), sha512: sha512.hasher.finalize())
    }
}

/// Hands a hasher to exactly one worker thread.
final class HasherBox: @unchecked Sendable {
    let hasher: SHA2Hasher
    init(_ hasher: SHA2Hasher) { self.hasher = hasher }
}
