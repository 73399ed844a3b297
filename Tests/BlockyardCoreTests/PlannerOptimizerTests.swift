import BlockyardCore
import BlockyardTestSupport
import Testing

/// The range optimiser against exhaustive search on small inputs.
@Suite("Planner: fetch range optimiser")
struct PlannerOptimizerTests {
    typealias Run = FetchRangeOptimizer.Run

    /// bytes fetched from local runs + c × ranges for a choice.
    static func cost(_ runs: [Run], _ fetched: [Bool], c: Int) -> Int {
        let (_, ranges, gap) = FetchRangeOptimizer.count(runs, fetched)
        return gap + c * ranges
    }

    /// Every valid choice (must-fetch runs fetched) as (cost, ops).
    static func allChoices(_ runs: [Run], c: Int) -> [(cost: Int, ops: Int)] {
        let local = runs.indices.filter { runs[$0].isLocal }
        var out: [(Int, Int)] = []
        for mask in 0..<(1 << local.count) {
            var fetched = runs.map { !$0.isLocal }
            for (bit, i) in local.enumerated() where mask >> bit & 1 == 1 { fetched[i] = true }
            out.append((cost(runs, fetched, c: c), FetchRangeOptimizer.count(runs, fetched).operations))
        }
        return out
    }

    static func randomRuns(_ rng: inout SplitMix64, count: Int) -> [Run] {
        var runs: [Run] = []
        var lastFetch = false
        for _ in 0..<count {
            // Must-fetch runs are never adjacent (the planner merges them).
            let fetch = !lastFetch && Int.random(in: 0..<3, using: &rng) == 0
            runs.append(Run(isLocal: !fetch, length: [1, 20, 50, 99, 100, 101, 150, 400, 5000].randomElement(using: &rng)!))
            lastFetch = fetch
        }
        return runs
    }

    @Test func unconstrainedIsOptimal() {
        var rng = SplitMix64(seed: 42)
        for _ in 0..<300 {
            let runs = Self.randomRuns(&rng, count: Int.random(in: 1...11, using: &rng))
            let c = [0, 1, 50, 100, 300].randomElement(using: &rng)!
            let model = PlanCostModel(requestOverhead: 0, gap: c, maxOps: 0)
            let result = FetchRangeOptimizer.optimize(runs, costModel: model)
            let best = Self.allChoices(runs, c: c).map(\.cost).min()!
            #expect(Self.cost(runs, result.fetched, c: c) == best, "runs \(runs) c \(c)")
            #expect(result.gapBytes == FetchRangeOptimizer.count(runs, result.fetched).gapBytes)
            for (r, f) in zip(runs, result.fetched) where !r.isLocal { #expect(f) }
        }
    }

    @Test func operationLimitIsMetExactly() {
        var rng = SplitMix64(seed: 7)
        for _ in 0..<300 {
            let runs = Self.randomRuns(&rng, count: Int.random(in: 2...11, using: &rng))
            let c = [0, 100, 300].randomElement(using: &rng)!
            let all = Self.allChoices(runs, c: c)
            let minOps = all.map(\.ops).min()!
            let maxOps = Int.random(in: minOps...runs.count, using: &rng)
            let result = FetchRangeOptimizer.optimize(runs, costModel: PlanCostModel(requestOverhead: 0, gap: c, maxOps: maxOps))
            #expect(result.withinLimit && result.operations <= maxOps, "runs \(runs) maxOps \(maxOps)")
            let best = all.filter { $0.ops <= maxOps }.map(\.cost).min()!
            #expect(Self.cost(runs, result.fetched, c: c) == best, "runs \(runs) c \(c) maxOps \(maxOps)")
        }
    }

    /// The fallback for inputs too large for the exact program: always within the limit, and
    /// never worse than the best plan with as few operations as the relaxation found.
    @Test func lagrangianFallbackMeetsTheLimit() {
        var rng = SplitMix64(seed: 8)
        var exact = 0, cases = 0
        for _ in 0..<300 {
            let runs = Self.randomRuns(&rng, count: Int.random(in: 2...11, using: &rng))
            let c = [0, 100, 300].randomElement(using: &rng)!
            let all = Self.allChoices(runs, c: c)
            let minOps = all.map(\.ops).min()!
            let maxOps = Int.random(in: minOps...runs.count, using: &rng)
            let model = PlanCostModel(requestOverhead: 0, gap: c, maxOps: maxOps)
            let result = FetchRangeOptimizer.optimize(runs, costModel: model, exactCellLimit: 0)
            #expect(result.withinLimit && result.operations <= maxOps, "runs \(runs) maxOps \(maxOps)")
            let mine = Self.cost(runs, result.fetched, c: c)
            #expect(mine >= all.filter { $0.ops <= maxOps }.map(\.cost).min()!)
            cases += 1
            if mine == all.filter({ $0.ops <= maxOps }).map(\.cost).min()! { exact += 1 }
        }
        // Measured: optimal in most cases (recorded, not a contract).
        #expect(exact * 2 >= cases, "optimal in \(exact) of \(cases)")
    }

    @Test func noFetchAtAllStillMeetsTheLimit() {
        // Pure reordering: 10 local runs and nothing to fetch; 3 operations allowed.
        let runs = (0..<10).map { Run(isLocal: true, length: 1000 + $0) }
        let result = FetchRangeOptimizer.optimize(runs, costModel: PlanCostModel(maxOps: 3))
        #expect(result.operations <= 3 && result.method == .exact)
        // Keeping the two largest runs and fetching the rest is the cheapest way to 3 ops.
        #expect(result.gapBytes == (0..<8).reduce(0) { $0 + 1000 + $1 })
    }

    @Test func requestsAreWorthGapBytes() {
        // Three ranges and two per request: merging the 300-byte gap saves a request.
        let runs = [Run(isLocal: false, length: 10), Run(isLocal: true, length: 300), Run(isLocal: false, length: 10),
                    Run(isLocal: true, length: 2000), Run(isLocal: false, length: 10)]
        let result = FetchRangeOptimizer.optimize(runs, costModel: PlanCostModel(maxRangesPerRequest: 2))
        #expect(result.fetched == [true, true, true, false, true])
        #expect(result.ranges == 2 && result.gapBytes == 300)
    }
}
