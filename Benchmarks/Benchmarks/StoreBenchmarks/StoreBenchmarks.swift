import Benchmark
import BlockyardCore
import BlockyardStore
import Foundation

/// Deterministic pseudo-random bytes (SplitMix64), as in CoreBenchmarks.
func randomBytes(seed: UInt64, count: Int) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: (count + 7) / 8 * 8)
    out.withUnsafeMutableBytes { raw in
        let words = raw.bindMemory(to: UInt64.self)
        var x = seed
        for i in 0..<words.count {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            words[i] = (z ^ (z >> 31)).littleEndian
        }
    }
    return Array(out.prefix(count))
}

let mebibytes = 64

/// Files and stores of one benchmark process, made in `setup` (not while benchmarks are only
/// being listed) and removed in `teardown`.
final class Fixture: @unchecked Sendable {
    static let shared = Fixture()
    let scratch = NSTemporaryDirectory() + "blockyard-store-bench-\(getpid())"
    var input: String { scratch + "/input.bin" }
    var dedupStore: ChunkStore?
    var member: ManifestMember?
    var run = 0

    /// A 64 MiB file of random bytes (nothing deduplicates within it).
    func makeInput() throws {
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: input) {
            FileManager.default.createFile(atPath: input, contents: Data(randomBytes(seed: 5, count: mebibytes << 20)))
        }
    }

    /// A new store with the default (crash-safe) durability, as `blockyard store init` makes.
    func freshStore(_ name: String) throws -> ChunkStore {
        let path = scratch + "/" + name
        try? FileManager.default.removeItem(atPath: path)
        return try ChunkStore.initialize(at: path).store
    }

    /// A store holding the input once, as version "0".
    func makeDedupStore() throws {
        try makeInput()
        let store = try freshStore("dedup")
        _ = try store.add(path: input, as: VersionRef(name: "bench", version: "0"))
        dedupStore = store
        member = try store.manifest(VersionRef(name: "bench", version: "0")).members[0]
    }

    func removeAll() {
        dedupStore = nil
        try? FileManager.default.removeItem(atPath: scratch)
    }
}

let benchmarks: @Sendable () -> Void = {
    let config = Benchmark.Configuration(
        metrics: [.wallClock, .cpuTotal, .throughput, .peakMemoryResident],
        scalingFactor: .one,
        maxDuration: .seconds(5),
        maxIterations: 10)
    let f = Fixture.shared

    // put: chunk + hash + write every chunk of a file the store has never seen.
    Benchmark("Store put 64 MiB (new chunks)", configuration: config) { benchmark in
        f.run += 1
        let store = try f.freshStore("put-\(f.run)")
        benchmark.startMeasurement()
        blackHole(try store.add(path: f.input, as: VersionRef(name: "bench", version: "1")))
        benchmark.stopMeasurement()
        try? FileManager.default.removeItem(atPath: store.path)
    } setup: {
        try f.makeInput()
    } teardown: {
        f.removeAll()
    }

    // put again: the same bytes as a new version: every chunk is already stored.
    Benchmark("Store put 64 MiB (all chunks already stored)", configuration: config) { benchmark in
        f.run += 1
        blackHole(try f.dedupStore!.add(path: f.input, as: VersionRef(name: "bench", version: "v\(f.run)")))
    } setup: {
        try f.makeDedupStore()
    } teardown: {
        f.removeAll()
    }

    // get: reconstruct a stored version to /dev/null, SHA-512 verified on the way.
    Benchmark("Store get 64 MiB (reconstruct + SHA-512 verify)", configuration: config) { benchmark in
        let devNull = open("/dev/null", O_WRONLY)
        defer { close(devNull) }
        blackHole(try f.dedupStore!.reconstruct(f.member!, of: VersionRef(name: "bench", version: "0"), to: devNull))
    } setup: {
        try f.makeDedupStore()
    } teardown: {
        f.removeAll()
    }
}
