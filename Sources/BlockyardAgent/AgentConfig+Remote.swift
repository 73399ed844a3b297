extension AgentConfig {
    /// The settings a local UI may change over the REST API (`POST /api/updates/configure`):
    /// when to check, download and install, which channel, which versions to skip, how many
    /// backups to keep. None of them decides what runs, what is installed or where bytes are
    /// written.
    public static let remoteKeys = ["auto_check", "auto_download", "auto_install", "update_channel", "skip_versions",
                                    "backup_count", "check_interval_s"]

    /// The keys only `blockyard agent configure` on this machine can change: the feed and its
    /// key (what is trusted), `install_path`, `kind`, `platform`, `file` (what is installed and
    /// where), `health_cmd` (a command that runs), `allow_downgrade` (whether an older, perhaps
    /// vulnerable, version may be installed) and `last_check` (the agent's own bookkeeping).
    public static var localKeys: [String] { keys.filter { !remoteKeys.contains($0) } }

    /// The keys of `keys` that the REST API must refuse, in ``keys`` order (unknown keys are
    /// not among them: setting them fails as usual).
    public static func refusedRemotely(_ keys: some Sequence<String>) -> [String] {
        let given = Set(keys)
        return localKeys.filter { given.contains($0) }
    }

    /// The message for a REST configure that names `refused` keys.
    public static func remoteRefusal(_ refused: [String]) -> String {
        "configure: \(refused.joined(separator: ", ")) can only be changed on this machine with "
            + "`blockyard agent configure` (the API may change only \(remoteKeys.joined(separator: ", "))); nothing was changed"
    }
}
