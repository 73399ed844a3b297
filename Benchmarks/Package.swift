// swift-tools-version: 6.1
//
// Micro benchmarks of Blockyard's hot paths, kept in their own package (like
// swift-collections' Benchmarks) so the main build and CI stay lean.
//   cd Benchmarks && swift package benchmark
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
    ]
)
