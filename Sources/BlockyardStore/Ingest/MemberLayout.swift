/// The member paths of a version seen so far, checked as each one arrives so that a version
/// can always be rebuilt as a tree: no member may sit below another member (a regular file or
/// a symbolic link), because `x` cannot be both a file (or link) and the directory holding
/// `x/y`. Archives can hold such pairs; extracting them fails or, through a link, writes
/// somewhere else. A path that repeats is fine (the last copy is kept).
struct MemberLayout {
    /// Member path → what it is, for the message.
    private var members: [String: String] = [:]
    /// Directory implied by member paths → the first member below it.
    private var directories: [String: String] = [:]

    /// Records `path` (normalized, `/`-separated) of a member of kind `what` ("a regular
    /// file", "a symbolic link"). Throws when it conflicts with a member recorded before.
    mutating func insert(_ path: String, what: String, in container: String) throws(StoreError) {
        if let below = directories[path] {
            throw Self.conflict(upper: path, upperKind: what, lower: below, in: container)
        }
        let parents = Self.parents(of: path)
        for parent in parents {
            if let kind = members[parent] {
                throw Self.conflict(upper: parent, upperKind: kind, lower: path, in: container)
            }
        }
        members[path] = what
        for parent in parents where directories[parent] == nil { directories[parent] = path }
    }

    /// `a`, `a/b` for `a/b/c`.
    static func parents(of path: String) -> [String] {
        var out: [String] = []
        var index = path.startIndex
        while let slash = path[index...].firstIndex(of: "/") {
            out.append(String(path[..<slash]))
            index = path.index(after: slash)
        }
        return out
    }

    private static func conflict(upper: String, upperKind: String, lower: String, in container: String) -> StoreError {
        .invalidInput(path: container, reason: "members \(upper.debugDescription) (\(upperKind)) and \(lower.debugDescription) conflict: \(upper.debugDescription) would have to be a directory to hold \(lower.debugDescription), so the version could never be exported; nothing was stored")
    }
}
