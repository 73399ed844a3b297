import BlockyardCore

/// Where an artifact's delivery files are (docs/FORMAT.md) and what they must hash to: the
/// extra keys of a channel file's `files[]` entry that Blockyard's client reads and
/// electron-updater ignores.
///
///     files:
///       - url: releases/1.2.0/App-1.2.0.exe
///         sha512: …
///         size: 123456789
///         blockyardIndex: releases/1.2.0/App-1.2.0.exe.byindex
///         blockyardIndexSize: 123456
///         blockyardPack: releases/1.2.0/App-1.2.0.exe.bypack
///         blockyardPackSize: 98765432
///         blockyardRoot: 64 hex digits
///
/// The root hash is the only trust anchor: every index record the client fetches is checked
/// against it through the node hashes, every chunk against its leaf, so the files need no
/// checksum or signature of their own (the channel file's signature covers these keys).
public struct DeliveryReference: Equatable, Sendable, Codable {
    /// URL of the `.byindex` file, relative to the feed like `url`, or absolute.
    public var index: String
    public var indexSize: Int
    /// URL of the `.bypack` file, relative to the feed like `url`, or absolute.
    public var pack: String
    public var packSize: Int
    /// The index's root hash, 64 lowercase hex digits.
    public var root: String

    public init(index: String, indexSize: Int, pack: String, packSize: Int, root: String) {
        self.index = index
        self.indexSize = indexSize
        self.pack = pack
        self.packSize = packSize
        self.root = root
    }

    /// The root as a hash (nil when ``root`` is not 64 hex digits).
    public var rootHash: DeliveryHash? {
        guard root.utf8.count == 64, let bytes = Hex.decode(root), bytes.count == 32 else { return nil }
        return DeliveryHash(bytes)
    }

    /// The channel-file keys, in the order they are written.
    public static let keys = ["blockyardIndex", "blockyardIndexSize", "blockyardPack", "blockyardPackSize", "blockyardRoot"]

    /// Reads the keys of one `files[]` entry. Nil when none is present; a warning (and nil) when
    /// they are incomplete or malformed: the client then uses the blockmap path, exactly as if
    /// the release had no delivery files.
    static func parse(_ value: (String) -> String?, entry url: String) -> (DeliveryReference?, String?) {
        let present = keys.filter { value($0) != nil }
        guard !present.isEmpty else { return (nil, nil) }
        func problem(_ what: String) -> (DeliveryReference?, String?) {
            (nil, "\(url): \(what); the delivery files are ignored (the blockmap path is used)")
        }
        guard let index = value("blockyardIndex"), !index.isEmpty,
              let pack = value("blockyardPack"), !pack.isEmpty,
              let root = value("blockyardRoot") else {
            return problem("blockyardIndex, blockyardPack and blockyardRoot must all be given")
        }
        guard let indexSize = value("blockyardIndexSize").flatMap({ Int($0) }), indexSize > 0,
              let packSize = value("blockyardPackSize").flatMap({ Int($0) }), packSize >= 0 else {
            return problem("blockyardIndexSize and blockyardPackSize must be non-negative integers")
        }
        let reference = DeliveryReference(index: index, indexSize: indexSize, pack: pack, packSize: packSize, root: root.lowercased())
        guard reference.rootHash != nil else { return problem("blockyardRoot is not 64 hex digits") }
        return (reference, nil)
    }
}
