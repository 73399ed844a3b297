/// Where a release directory keeps things: artifacts under `releases/{version}/`, channel
/// files (`latest.yml`, …) at the root.
public enum ReleaseLayout {
    public static let releasesDirectory = "releases"
}
