/// On-disk format of the chunk store (see docs/STORE.md, "LMDB layout").
public enum StoreFormat {
    /// Format version written to `meta/format-version`. A store with a higher version is
    /// refused with a clear error; readers of this version never guess at a newer layout.
    public static let version = 1

    /// Named LMDB databases.
    enum Database {
        /// Store-wide settings: format version, chunk key and chunker description.
        static let meta = "meta"
        /// SHA-256 (32 B) → the chunk's bytes.
        static let chunks = "chunks"
        /// SHA-256 (32 B) → ``ChunkRecord`` (refcount, size, BLAKE2b-18).
        static let refs = "refs"
        /// name · 0x00 · version → ``ManifestCodec`` bytes.
        static let manifests = "manifests"

        static let all = [meta, chunks, refs, manifests]
    }

    enum MetaKey {
        static let formatVersion = "format-version"
        static let chunkKey = "chunk-key"
        static let chunker = "chunker"
        static let createdAt = "created-at"
    }

    static let chunkKeyName = "sha256"
    static let chunkerName = "rabin-poly64 window=64 min=8192 avg=16384 max=32768 (electron-builder)"

    /// The files LMDB keeps in the store directory.
    static let dataFile = "data.mdb"
}
