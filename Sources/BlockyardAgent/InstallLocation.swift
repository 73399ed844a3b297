import Foundation

/// The rules for `install_path`, in one place: `agent init`, `agent configure` and reading
/// `config.json` all apply them, with the same messages.
///
/// The agent installs by renaming a staged copy over the install path (`.NAME.blockyard-new`
/// beside it), so the path must name one file or directory inside an existing directory:
///
/// - absolute and normalized (no `.`, `..` or empty components), not the root directory —
///   ``checkSyntax(_:)``;
/// - not the state directory, inside it, or a directory holding it;
/// - its parent is an existing directory;
/// - not a symbolic link (renaming over it would replace the link, not what it points to);
/// - with kind `file`, a regular file if it exists; with kind `bundle`, a directory.
public enum InstallLocation {
    /// The checks that need no file system: absolute, normalized, not `/`.
    public static func checkSyntax(_ path: String) throws(AgentError) {
        guard !path.isEmpty else { throw refused("a path is required") }
        guard !path.contains("\0") else { throw refused("\(path.debugDescription) contains a NUL character") }
        guard path.hasPrefix("/") else {
            throw refused("\(path) is not an absolute path (config.json must not depend on the directory the agent runs in)")
        }
        guard path != "/" else {
            throw refused("/ is the root directory: install_path must name the installed file or bundle directory itself")
        }
        let components = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        guard !components.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
            let normalized = URL(fileURLWithPath: path).standardizedFileURL.path
            throw refused("\(path) is not a normalized path (no `.`, `..` or empty components): write \(normalized)")
        }
    }

    /// All the checks, for a path about to be recorded in `config.json` of `stateDirectory`.
    public static func check(_ path: String, kind: AgentConfig.Kind, stateDirectory: String) throws(AgentError) {
        try checkSyntax(path)
        let parent = FileOperations.parent(path)
        let resolvedState = resolved(URL(fileURLWithPath: stateDirectory).standardizedFileURL.path)
        let resolvedPath = resolved(parent) + "/" + FileOperations.name(path)
        if resolvedPath == resolvedState || resolvedState.hasPrefix(resolvedPath + "/") || resolvedPath.hasPrefix(resolvedState + "/") {
            throw refused("\(path) overlaps the agent's state directory \(stateDirectory): install it elsewhere")
        }
        guard FileOperations.isDirectory(parent) else {
            throw refused("\(path): its directory \(parent) does not exist")
        }
        var st = stat()
        if lstat(path, &st) == 0 {
            switch st.st_mode & S_IFMT {
            case S_IFLNK:
                let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? "?"
                throw refused("\(path) is a symbolic link (to \(target)): give the path of the file or directory itself")
            case S_IFDIR where kind == .file:
                throw refused("\(path) is a directory, but kind is file (use kind bundle for a directory)")
            case S_IFREG where kind == .bundle:
                throw refused("\(path) is a file, but kind is bundle (a bundle is a directory)")
            case S_IFDIR, S_IFREG:
                break
            default:
                throw refused("\(path) is neither a regular file nor a directory")
            }
        }
    }

    static func refused(_ message: String) -> AgentError {
        AgentError(.usage, "install_path: \(message)")
    }

    /// `path` with symbolic links resolved as far as it exists.
    private static func resolved(_ path: String) -> String {
        guard let real = realpath(path, nil) else {
            let parent = FileOperations.parent(path)
            guard parent != path, parent != "/" else { return path }
            return resolved(parent) + "/" + FileOperations.name(path)
        }
        defer { free(real) }
        return String(cString: real)
    }
}
