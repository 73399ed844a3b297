/// Defaults shared by Blockyard's HTTP server and client.
public enum HTTPDefaults {
    /// electron-updater's User-Agent, which the client also sends so servers treat it alike.
    public static let userAgent = "blockyard"
}
