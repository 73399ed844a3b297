/// Chooses which locally available runs to download anyway, so that the plan costs the
/// fewest bytes on the wire while staying under the operation limit (docs/PLANNER.md).
///
/// The input is the new file as a sequence of runs, in order: a run that must be fetched
/// (nothing local has those bytes) or a local run (one copy or duplicate operation). Fetching
/// a local run costs its length; each maximal sequence of fetched runs is one range and costs
/// `c` = the gap threshold (the per-range overhead unless `--gap` overrides it).
///
/// 1. Unconstrained: an exact dynamic program over two states (the last operation is a fetch
///    range, or not) minimises `bytes + c × ranges` in O(n); ties go to fewer operations. It
///    merges exactly the gaps of at most `c` bytes and never fetches a local run otherwise.
/// 2. If that has more than `maxOps` operations: the exact optimum under the limit, by a
///    dynamic program over (run, operations used) in O(n × maxOps) time and 2 bits per cell;
///    above ``exactCellLimit`` cells, a Lagrangian relaxation (smallest price per operation
///    that meets the limit, binary search) whose leftover slack is then spent greedily.
/// 3. Whole gaps are merged cheapest-first when that saves requests:
///    minimises `Σ merged gaps − m × c + ⌈(ranges − m) / maxRangesPerRequest⌉ × requestOverhead`
///    over the number of merges m.
public enum FetchRangeOptimizer {
    /// One run of the new file.
    public struct Run: Equatable, Sendable {
        /// True if the bytes are available locally (copy or duplicate).
        public var isLocal: Bool
        public var length: Int

        public init(isLocal: Bool, length: Int) {
            self.isLocal = isLocal
            self.length = length
        }
    }

    /// How the operation limit was met.
    public enum Method: String, Equatable, Sendable {
        /// The limit was not binding: the exact optimum of bytes + c × ranges.
        case unconstrained
        /// Exact dynamic program over (run, operations used).
        case exact
        /// Too large for the exact program: Lagrangian relaxation, then slack used greedily.
        case lagrangian
    }

    public struct Result: Equatable, Sendable {
        /// Per run: whether it is downloaded in the final plan.
        public var fetched: [Bool]
        public var operations: Int
        public var ranges: Int
        /// Bytes of local runs that are downloaded anyway.
        public var gapBytes: Int
        public var method: Method
        /// Whether the operation limit could be met.
        public var withinLimit: Bool
    }

    /// The exact constrained program runs when runs × (maxOps + 1) is at most this many
    /// cells (2 bits each: 16 MiB, about 0.2 s); above it the Lagrangian method is used.
    public static let exactCellLimit = 1 << 26

    /// Optimises `runs` under `costModel`. Must-fetch runs are always fetched.
    public static func optimize(_ runs: [Run], costModel: PlanCostModel, exactCellLimit: Int = exactCellLimit) -> Result {
        // Plans are limited to 2^53-byte files (DeltaPlanner), so these sums cannot overflow.
        let total = runs.reduce(0) { $0 + max(0, $1.length) }
        let n = runs.count
        // A gap threshold above the file size acts like "merge everything"; capping it keeps
        // the arithmetic far from overflow.
        let c = min(max(0, costModel.gapThreshold), total + 1, (Int.max / 8) / (n + 1))
        var back = [UInt8](repeating: 0, count: n)

        let free = solve(runs, c: c, lambda: 0, back: &back)
        var fetched: [Bool]
        var method = Method.unconstrained
        let maxOps = costModel.maxOps
        if maxOps == 0 || free.ops <= maxOps {
            fetched = backtrack(runs, back: back, finalStateIsFetch: free.endsInFetch)
        } else if case let (cells, overflow) = n.multipliedReportingOverflow(by: maxOps + 1), !overflow, cells <= exactCellLimit {
            fetched = solveExact(runs, c: c, maxOps: maxOps)
            method = .exact
        } else {
            fetched = lagrangian(runs, c: c, maxOps: maxOps, total: total, back: &back)
            method = .lagrangian
        }
        mergeForRequests(runs, fetched: &fetched, c: c, costModel: costModel)
        let (ops, ranges, gap) = count(runs, fetched)
        return Result(fetched: fetched, operations: ops, ranges: ranges, gapBytes: gap, method: method,
                      withinLimit: maxOps == 0 || ops <= maxOps)
    }

    /// Operations, ranges and gap bytes of a choice.
    public static func count(_ runs: [Run], _ fetched: [Bool]) -> (operations: Int, ranges: Int, gapBytes: Int) {
        var ops = 0, ranges = 0, gap = 0
        var inFetch = false
        for (r, f) in zip(runs, fetched) {
            if f {
                if !inFetch { ranges += 1; ops += 1 }
                inFetch = true
                if r.isLocal { gap += r.length }
            } else {
                ops += 1
                inFetch = false
            }
        }
        return (ops, ranges, gap)
    }

    // MARK: - Dynamic program

    struct Value {
        var obj: Int
        var ops: Int
        static let infinity = Value(obj: Int.max / 2, ops: 0)
        var isInfinite: Bool { obj >= Int.max / 2 }

        @inline(__always)
        func adding(_ cost: Int, _ ops: Int) -> Value {
            isInfinite ? self : Value(obj: obj + cost, ops: self.ops + ops)
        }

        /// Cheaper, or as cheap with fewer operations.
        @inline(__always)
        func better(than o: Value) -> Bool {
            obj < o.obj || (obj == o.obj && ops < o.ops)
        }
    }

    struct Solution {
        var obj: Int
        var ops: Int
        var endsInFetch: Bool
    }

    /// The cheapest `bytes + c × ranges + λ × operations`; `back` receives per run
    /// bit 0 = "the fetch state came from the local state" and bit 1 = "the local state
    /// came from the local state".
    static func solve(_ runs: [Run], c: Int, lambda: Int, back: inout [UInt8]) -> Solution {
        var a = Value.infinity          // last operation is a fetch range
        var b = Value(obj: 0, ops: 0)   // start, or last operation is local
        runs.withUnsafeBufferPointer { rs in
            back.withUnsafeMutableBufferPointer { bk in
                for i in 0..<rs.count {
                    let r = rs[i]
                    var bits: UInt8 = 0
                    let newA: Value
                    var newB = Value.infinity
                    let fromA = a.adding(r.isLocal ? r.length : 0, 0)
                    let fromB = b.adding((r.isLocal ? r.length : 0) + c + lambda, 1)
                    if fromB.better(than: fromA) { newA = fromB; bits |= 1 } else { newA = fromA }
                    if r.isLocal {
                        if b.better(than: a) {
                            newB = b.adding(lambda, 1)
                            bits |= 2
                        } else {
                            newB = a.adding(lambda, 1)
                        }
                    }
                    bk[i] = bits
                    a = newA
                    b = newB
                }
            }
        }
        if b.better(than: a) || a.isInfinite { return Solution(obj: b.obj, ops: b.ops, endsInFetch: false) }
        return Solution(obj: a.obj, ops: a.ops, endsInFetch: true)
    }

    static func backtrack(_ runs: [Run], back: [UInt8], finalStateIsFetch: Bool) -> [Bool] {
        var fetched = [Bool](repeating: false, count: runs.count)
        var inFetch = finalStateIsFetch
        var i = runs.count - 1
        while i >= 0 {
            fetched[i] = inFetch
            let bits = back[i]
            inFetch = inFetch ? (bits & 1 == 0) : (bits & 2 == 0)
            i -= 1
        }
        return fetched
    }

    // MARK: - Operation limit

    /// The exact optimum of `bytes + c × ranges` with at most `maxOps` operations: a dynamic
    /// program over (run, operations so far, last operation is a fetch or not).
    static func solveExact(_ runs: [Run], c: Int, maxOps: Int) -> [Bool] {
        let n = runs.count
        let width = maxOps + 1
        let inf = Int.max / 2
        // 2 bits per (run, ops): bit 0 = the fetch state came from the local state (one
        // operation fewer), bit 1 = the local state came from the local state.
        var bits = [UInt8](repeating: 0, count: (n * width + 3) / 4)
        var a = [Int](repeating: inf, count: width)   // last operation is a fetch range
        var b = [Int](repeating: inf, count: width)   // start, or last operation is local
        b[0] = 0
        var na = a, nb = b
        @inline(__always) func plus(_ x: Int, _ y: Int) -> Int { x >= inf ? inf : x + y }
        bits.withUnsafeMutableBufferPointer { bp in
            for i in 0..<n {
                let r = runs[i]
                let extra = r.isLocal ? r.length : 0
                let hi = min(i + 1, maxOps)
                let base = i * width
                for o in 0...hi {
                    var bit: UInt8 = 0
                    let fromA = plus(a[o], extra)
                    let fromB = o > 0 ? plus(b[o - 1], extra + c) : inf
                    if fromB < fromA { na[o] = fromB; bit |= 1 } else { na[o] = fromA }
                    if r.isLocal && o > 0 {
                        let keepA = a[o - 1], keepB = b[o - 1]
                        if keepB < keepA { nb[o] = keepB; bit |= 2 } else { nb[o] = keepA }
                    } else {
                        nb[o] = inf
                    }
                    let cell = base + o
                    bp[cell >> 2] |= bit << UInt8((cell & 3) * 2)
                }
                swap(&a, &na)
                swap(&b, &nb)
            }
        }
        // The cheapest end state; ties go to fewer operations.
        var best = inf, bestOps = 0, bestFetch = false
        for o in 0..<width {
            if a[o] < best { best = a[o]; bestOps = o; bestFetch = true }
            if b[o] < best { best = b[o]; bestOps = o; bestFetch = false }
        }
        var fetched = [Bool](repeating: false, count: n)
        guard best < inf else { return runs.map { _ in true } }
        var o = bestOps
        var inFetch = bestFetch
        for i in stride(from: n - 1, through: 0, by: -1) {
            fetched[i] = inFetch
            let cell = i * width + o
            let bit = bits[cell >> 2] >> UInt8((cell & 3) * 2) & 3
            if inFetch {
                if bit & 1 != 0 { o -= 1; inFetch = false }
            } else {
                o -= 1
                inFetch = bit & 2 == 0
            }
        }
        return fetched
    }

    /// For inputs too large for ``solveExact``: the smallest integer price per operation λ
    /// whose optimum of `bytes + c × ranges + λ × operations` meets the limit (found by
    /// binary search; operations are non-increasing in λ), then the remaining slack is spent
    /// on keeping local again the largest fetched-anyway runs at the edges of fetch ranges.
    static func lagrangian(_ runs: [Run], c: Int, maxOps: Int, total: Int, back: inout [UInt8]) -> [Bool] {
        let n = runs.count
        // Any λ above every possible byte saving reaches the minimum operation count.
        let ceiling = (Int.max / 4 - total - (n + 1) * c) / (n + 2)
        var hi = max(1, min(total + c + 1, ceiling))
        var lo = 0
        if solve(runs, c: c, lambda: hi, back: &back).ops <= maxOps {
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2
                if solve(runs, c: c, lambda: mid, back: &back).ops <= maxOps { hi = mid } else { lo = mid }
            }
        }
        let chosen = solve(runs, c: c, lambda: hi, back: &back)
        var fetched = backtrack(runs, back: back, finalStateIsFetch: chosen.endsInFetch)
        var slack = maxOps - chosen.ops
        guard slack > 0 else { return fetched }
        // Keeping a fetched local run at the edge of its range costs one operation and saves
        // its bytes; the largest first.
        let candidates = runs.indices.filter { runs[$0].isLocal && fetched[$0] }.sorted { runs[$0].length > runs[$1].length }
        for i in candidates where slack > 0 {
            let leftFetched = i > 0 && fetched[i - 1]
            let rightFetched = i + 1 < n && fetched[i + 1]
            if leftFetched && rightFetched { continue }  // would split a range: +2 operations
            fetched[i] = false
            // A range of this run alone becomes a local operation: the count stays the same.
            if leftFetched || rightFetched { slack -= 1 }
        }
        return fetched
    }

    // MARK: - Requests

    /// Merges whole gaps, smallest first, when the saved requests are worth more than the
    /// gap bytes: minimises Σ merged gaps − m·c + ⌈(R − m)/P⌉ × requestOverhead over m.
    static func mergeForRequests(_ runs: [Run], fetched: inout [Bool], c: Int, costModel: PlanCostModel) {
        let perRequest = costModel.requestOverhead
        let p = costModel.maxRangesPerRequest
        guard perRequest > 0, p >= 1 else { return }
        // Gaps between consecutive fetch ranges: (bytes, first run, end run).
        var gaps: [(bytes: Int, from: Int, to: Int)] = []
        var ranges = 0
        var i = 0
        var lastFetchEnd = -1
        while i < runs.count {
            if fetched[i] {
                if lastFetchEnd >= 0 && lastFetchEnd < i {
                    var bytes = 0
                    for k in lastFetchEnd..<i { bytes += runs[k].length }
                    gaps.append((bytes, lastFetchEnd, i))
                }
                ranges += 1
                while i < runs.count && fetched[i] { i += 1 }
                lastFetchEnd = i
            } else {
                i += 1
            }
        }
        guard ranges > 1 else { return }
        // Only merges that can drop a request matter: at most mod P + 1 of them per
        // request saved. Evaluate every m (gaps sorted ascending).
        gaps.sort { $0.bytes < $1.bytes }
        func requests(_ r: Int) -> Int { (r + p - 1) / p }
        var bestM = 0
        var bestCost = requests(ranges) * perRequest
        var sum = 0
        for m in 1...gaps.count {
            sum += gaps[m - 1].bytes - c
            let cost = sum + requests(ranges - m) * perRequest
            if cost < bestCost { bestCost = cost; bestM = m }
        }
        for k in 0..<bestM {
            for r in gaps[k].from..<gaps[k].to { fetched[r] = true }
        }
    }
}
