// swift-tools-version: 6.1
//
// Blockyard: a content-addressed artifact store and delta engine for large release artifacts.
// Layering (see docs/ARCHITECTURE.md):
//   BlockyardCore  pure: digests, chunking, blockmap codec, planner, delivery index (buffers in, values out)
//   BlockyardIO    platform: files, threads, atomic writes, progress
//   BlockyardStore deduplicating chunk store in LMDB
//   BlockyardRelease  update metadata, channels, publishing, signing
//   BlockyardHTTP  `serve` (Hummingbird) and the update client (AsyncHTTPClient)
//   BlockyardAgent the updater agent: state, installs with backups and rollback, REST API
//   BlockyardCLI   the `blockyard` command line (one file per subcommand)
import PackageDescription

let package = Package(
    name: "Blockyard",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "blockyard", targets: ["blockyard"]),
        .library(name: "BlockyardCore", targets: ["BlockyardCore"]),
        .library(name: "BlockyardIO", targets: ["BlockyardIO"]),
        .library(name: "BlockyardStore", targets: ["BlockyardStore"]),
        .library(name: "BlockyardRelease", targets: ["BlockyardRelease"]),
        .library(name: "BlockyardHTTP", targets: ["BlockyardHTTP"]),
        .library(name: "BlockyardAgent", targets: ["BlockyardAgent"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // C libraries from Debian's -dev packages.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "COpenSSLCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CLMDB", providers: [.apt(["liblmdb-dev"])]),
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),

        .target(name: "BlockyardCore", dependencies: ["CZlib", "COpenSSLCrypto", "CZstd"]),
        .target(name: "BlockyardIO", dependencies: ["BlockyardCore"]),
        .target(name: "BlockyardStore", dependencies: ["BlockyardCore", "BlockyardIO", "CLMDB", "CArchive"]),
        .target(
            name: "BlockyardRelease",
            dependencies: [
                "BlockyardCore", "BlockyardIO",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
            ]),
        .target(
            name: "BlockyardHTTP",
            dependencies: [
                "BlockyardCore", "BlockyardIO", "BlockyardRelease", "BlockyardStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]),
        .target(
            name: "BlockyardAgent",
            dependencies: [
                "BlockyardCore", "BlockyardIO", "BlockyardRelease", "BlockyardHTTP",
                .product(name: "Hummingbird", package: "hummingbird"),
            ]),
        .target(
            name: "BlockyardCLI",
            dependencies: [
                "BlockyardCore", "BlockyardIO", "BlockyardStore", "BlockyardRelease", "BlockyardHTTP", "BlockyardAgent",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(name: "blockyard", dependencies: ["BlockyardCLI"]),

        // Test support: regenerates the shared golden-vector inputs from their names.
        .target(name: "BlockyardTestSupport", path: "Tests/BlockyardTestSupport"),
        .testTarget(name: "BlockyardCoreTests", dependencies: ["BlockyardCore", "BlockyardTestSupport"]),
        .testTarget(name: "BlockyardIOTests", dependencies: ["BlockyardIO", "BlockyardCore", "BlockyardTestSupport"]),
        .testTarget(name: "BlockyardStoreTests", dependencies: ["BlockyardStore", "BlockyardCore", "BlockyardTestSupport"]),
        .testTarget(name: "BlockyardReleaseTests", dependencies: ["BlockyardRelease", "BlockyardCore", "BlockyardTestSupport"]),
        .testTarget(name: "BlockyardHTTPTests", dependencies: ["BlockyardHTTP", "BlockyardCore", "BlockyardTestSupport"]),
        .testTarget(name: "BlockyardAgentTests", dependencies: ["BlockyardAgent", "BlockyardHTTP", "BlockyardRelease", "BlockyardCore", "BlockyardTestSupport"]),
        .testTarget(name: "SystemLibraryTests", dependencies: ["CZlib", "COpenSSLCrypto", "CLMDB", "CArchive", "CZstd"]),
        .testTarget(name: "BlockyardCLITests", dependencies: ["BlockyardCore", "BlockyardTestSupport", "blockyard"]),
    ]
)
