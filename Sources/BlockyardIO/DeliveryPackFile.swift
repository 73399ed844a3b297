import BlockyardCore

/// Checks a `.bypack` file against its index without reading it into memory: the file is
/// mapped and every chunk decoded and hashed in order (``DeliveryVerifier/verifyPack(_:pack:onChunk:)``).
public enum DeliveryPackFile {
    /// Why a pack file failed: it could not be read, or it does not match the index.
    public enum Failure: Error, Sendable {
        case file(FileError)
        case data(DeliveryIndexError)
    }

    public static func verify(_ index: DeliveryIndex, packPath: String) throws(Failure) {
        let input: FileInput
        do { input = try FileInput(path: packPath) } catch { throw .file(error) }
        guard let size = input.regularFileSize else {
            throw .file(FileError(path: packPath, kind: .notRegularFile, reason: "not a regular file"))
        }
        guard UInt64(size) == index.packSize else {
            throw .data(.packSizeMismatch(expected: index.packSize, actual: UInt64(size)))
        }
        if size == 0 {
            do { try DeliveryVerifier.verifyPack(index, pack: UnsafeRawBufferPointer(start: nil, count: 0)) } catch { throw .data(error) }
            return
        }
        let mapped: MappedFile
        do { mapped = try MappedFile(path: packPath) } catch { throw .file(error) }
        guard mapped.size == size else {
            throw .data(.packSizeMismatch(expected: index.packSize, actual: UInt64(mapped.size)))
        }
        do {
            try DeliveryVerifier.verifyPack(index, pack: mapped.bytes(0 ..< mapped.size))
        } catch {
            throw .data(error)
        }
    }
}
