import BlockyardCore
import BlockyardTestSupport
import Foundation
import Testing

/// The bundle-7-48 variants against the base: bytes to fetch and operation counts in both
/// modes, and byte-exact reconstruction (SHA-512 of the shared vectors).
///
/// Expected numbers: the fetch bytes equal `relative_to_base.bytes_in_new_chunks` of the
/// shared vectors (computed independently of this code); the electron-updater operations
/// were checked against a line-by-line transliteration of electron-updater 6.8.9's
/// `computeOperations` run on the same blockmaps.
@Suite("Planner: bundle-7-48 vectors", .serialized)
struct PlannerVectorTests {
    struct Expected: Sendable, CustomStringConvertible {
        var variant: String
        var fetchBytes: Int
        var compatOps: Int
        var compatRanges: Int
        var defaultOps: Int
        var defaultRanges: Int
        var description: String { variant }
    }

    static let table: [Expected] = [
        Expected(variant: "base", fetchBytes: 0, compatOps: 1, compatRanges: 0, defaultOps: 1, defaultRanges: 0),
        Expected(variant: "insert100", fetchBytes: 22956, compatOps: 2, compatRanges: 1, defaultOps: 2, defaultRanges: 1),
        Expected(variant: "overwrite1k", fetchBytes: 32768, compatOps: 3, compatRanges: 1, defaultOps: 3, defaultRanges: 1),
        Expected(variant: "delete4m", fetchBytes: 58508, compatOps: 3, compatRanges: 1, defaultOps: 3, defaultRanges: 1),
        Expected(variant: "append", fetchBytes: 2_128_792, compatOps: 2, compatRanges: 1, defaultOps: 2, defaultRanges: 1),
        Expected(variant: "swap", fetchBytes: 232_950, compatOps: 10, compatRanges: 5, defaultOps: 10, defaultRanges: 5),
    ]

    static func blockmap(_ name: String) throws -> Blockmap {
        try Blockmap(json: Array(SharedVectors.expected(name).blockmapJSON.utf8))
    }

    /// `relative_to_base` of a variant's expected JSON.
    static func relativeToBase(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: SharedVectors.expectedDirectory.appendingPathComponent("\(name).json"))
        let object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        return object["relative_to_base"] as? [String: Any] ?? [:]
    }

    static let base: [UInt8] = VectorInputs.generate("bundle-7-48-base")!

    @Test(arguments: table)
    func numbers(_ e: Expected) throws {
        let name = "bundle-7-48-\(e.variant)"
        let target = try Self.blockmap(name)
        let baseMap = try Self.blockmap("bundle-7-48-base")
        let seed = PlanSeedInput(path: "base", size: baseMap.totalSize, blockmap: baseMap)
        let eu = try DeltaPlanner.plan(target: target, seeds: [seed], options: PlanOptions(mode: .electronUpdater))
        let by = try DeltaPlanner.plan(target: target, seeds: [seed])
        #expect(eu.totals.fetchBytes == e.fetchBytes)
        #expect(eu.totals.operations == e.compatOps)
        #expect(eu.totals.fetchRanges == e.compatRanges)
        #expect(by.totals.fetchBytes == e.fetchBytes)
        #expect(by.totals.operations == e.defaultOps)
        #expect(by.totals.fetchRanges == e.defaultRanges)
        #expect(by.totals.fetchBytes <= eu.totals.fetchBytes + by.totals.gapBytes)
        #expect(by.totals.requests == (e.defaultRanges > 0 ? 1 : 0))
        if e.variant != "base" {
            let rel = try Self.relativeToBase(name)
            #expect(rel["bytes_in_new_chunks"] as? Int == e.fetchBytes)
        }
    }

    @Test func reconstructionIsByteExact() throws {
        let baseMap = try Self.blockmap("bundle-7-48-base")
        let seed = PlanSeedInput(path: "base", size: baseMap.totalSize, blockmap: baseMap)
        for e in Self.table where e.variant != "base" {
            let name = "bundle-7-48-\(e.variant)"
            let expected = try SharedVectors.expected(name)
            let new = try #require(VectorInputs.generate(name))
            for mode in PlanMode.allCases {
                let plan = try DeltaPlanner.plan(target: Self.blockmap(name), seeds: [seed], options: PlanOptions(mode: mode))
                let output = MemoryApplyOutput(capacity: plan.target.size, bufferSize: 4 << 20)
                let source = MemoryRangeSource(new, pieceSize: 65536)
                let stats = try PlanExecutor.execute(plan, seeds: MemorySeeds([Self.base]), source: source, output: output)
                #expect(SHA2Hasher.hash(.sha512, output.bytes).base64 == expected.sha512, "\(name) \(mode)")
                #expect(stats.bytesFetched == e.fetchBytes)
                #expect(source.requests.count == plan.totals.requests)
            }
        }
    }
}
