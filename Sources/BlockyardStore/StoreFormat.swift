/// On-disk format version of the chunk store (see docs/STORE.md).
public enum StoreFormat {
    public static let version = 1
}
