import CLMDB

/// A failed LMDB call: the operation and LMDB's return code.
public struct LMDBError: Error, Equatable, Sendable, CustomStringConvertible {
    public let code: Int32
    public let operation: String

    public init(_ code: Int32, _ operation: String) {
        self.code = code
        self.operation = operation
    }

    /// The map (the store's maximum size) is full; the caller grows it and retries.
    public var isMapFull: Bool { code == MDB_MAP_FULL }

    public var description: String {
        "\(operation): \(String(cString: mdb_strerror(code)))"
    }

    /// Throws unless `rc` is 0.
    @inline(__always)
    static func check(_ rc: Int32, _ operation: @autoclosure () -> String) throws(LMDBError) {
        if rc != 0 { throw LMDBError(rc, operation()) }
    }
}
