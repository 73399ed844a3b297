// swift-tools-version: 6.1
//
// Micro benchmarks of Blockyard's hot paths, kept in their own package (like
// swift-collections' Benchmarks) so the main build and CI stay lean.
//   cd Benchmarks && swift package benchmark                       # everything
//   cd Benchmarks && swift package benchmark --target CoreBenchmarks  # digests, chunking, plan, multipart
//   cd Benchmarks && swift package benchmark --target StoreBenchmarks # LMDB chunk store put/get
import PackageDescription

let package = Package(
    name: "BlockyardBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Blockyard", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "CoreBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "BlockyardCore", package: "Blockyard"),
            ],
            path: "Benchmarks/CoreBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]),
        .executableTarget(
            name: "StoreBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "BlockyardCore", package: "Blockyard"),
                .product(name: "BlockyardStore", package: "Blockyard"),
            ],
            path: "Benchmarks/StoreBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]),
    ]
)
