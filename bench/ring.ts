// Benchmark of the routing layer against the npm `hashring` package (ketama).
// Run: npx tsx bench/ring.ts        (about a minute; progress goes to stderr;
//      --lookups-only for the lookup speeds alone)
//
// Balance, movement and weighted shares are exact over the 2^32 hash space
// (slot counts for shardtx, arc lengths for hashring), so they do not depend
// on a key sample. Speeds are medians of several repeats, given twice: by the
// wall clock and by the CPU time this process used, which is the steadier of
// the two on a shared machine (it leaves out time spent waiting for a core).
import { loadavg } from 'node:os'
import { ShardRing, diffRings } from '../src/sharding/index.js'
import { movedBetween, shares } from './ring/hash-space.js'
import { hashringRouter } from './ring/hashring-router.js'
import { benchmarkKeys } from './ring/keys.js'
import { median, timeRuns, worstRelativeError } from './ring/stats.js'
import { scriptFlags } from '../scripts/script-flags.js'

const flags = scriptFlags('bench:ring', `npm run bench:ring [-- --lookups-only]

The routing layer against the npm hashring package: balance, movement, weighted
shares (exact over the hash space) and lookup speed. About a minute.

  --lookups-only   measure lookup speed only (about 15 s of CPU)
  -h, --help       this text`, { 'lookups-only': { type: 'boolean' } })
const loadAtStart = loadavg()

type ShardList = { id: string; weight: number }[]

const KEY_COUNT = 1_000_000
const HASHRING_KEY_COUNT = 200_000 // it runs at well under 1 M/s
const REPEATS = 7
const HASHRING_REPEATS = 3

const equal = (n: number): ShardList => Array.from({ length: n }, (_, i) => ({ id: `shard-${i}`, weight: 1 }))
const weighted = (n: number): ShardList => equal(n).map((s, i) => ({ ...s, weight: 1 + (i % 4) }))
const log = (message: string) => process.stderr.write(`${message}\n`)

interface Row {
  metric: string
  target: string
  ours: string
  theirs: string
  ok: boolean | undefined
}
const rows: Row[] = []
const speedRatios: string[] = []
let headline = ''
const pct = (x: number, digits = 2) => `${(x * 100).toFixed(digits)} %`

// --- lookups per second -----------------------------------------------------
const keys = benchmarkKeys(KEY_COUNT)
const theirKeys = keys.slice(0, HASHRING_KEY_COUNT)
const rate = (count: number, ms: number[]) => count / median(ms) / 1000
// The timed loop takes everything as parameters: a loop inside a closure
// reads and writes captured variables through its context on every key,
// which the benchmark would then charge to the lookup.
function countRoutedTo(ring: ShardRing, keys: readonly string[], shardId: string): number {
  let hits = 0
  for (let i = 0; i < keys.length; i++) if (ring.shardFor(keys[i]!) === shardId) hits++
  return hits
}
for (const n of [4, 16, 64]) {
  log(`lookups, ${n} shards`)
  const ring = ShardRing.build(equal(n))
  const first = ring.shards[0]!.id
  let hits = 0
  // The first pass warms up the JIT (and flattens the keys' cons strings).
  const ourRuns = timeRuns(REPEATS + 1, () => (hits += countRoutedTo(ring, keys, first)))
  const theirs = hashringRouter(equal(n))
  // (hashring gets its own loop: sharing countRoutedTo's call site would make it polymorphic)
  const theirRuns = timeRuns(HASHRING_REPEATS, () => {
    for (let i = 0; i < theirKeys.length; i++) if (theirs.get(theirKeys[i]!) === first) hits++
  })
  const ours = { wall: rate(KEY_COUNT, ourRuns.wall.slice(1)), cpu: rate(KEY_COUNT, ourRuns.cpu.slice(1)) }
  const their = { wall: rate(HASHRING_KEY_COUNT, theirRuns.wall), cpu: rate(HASHRING_KEY_COUNT, theirRuns.cpu) }
  rows.push({
    metric: `lookups/s, ${n} shards (M/s: wall / CPU)`,
    target: n === 16 ? '≥ 20' : '',
    ours: `${ours.wall.toFixed(1)} / ${ours.cpu.toFixed(1)}`,
    theirs: `${their.wall.toFixed(2)} / ${their.cpu.toFixed(2)}`,
    ok: n === 16 ? ours.cpu >= 20 : undefined,
  })
  speedRatios.push(`${n} shards ${(ours.cpu / their.cpu).toFixed(0)}×`)
  if (n === 16) {
    headline =
      `16 shards, user:N keys: shardtx ${ours.cpu.toFixed(1)} M lookups/s (CPU time; wall ${ours.wall.toFixed(1)}), ` +
      `hashring ${their.cpu.toFixed(2)} M/s in the same run (${(ours.cpu / their.cpu).toFixed(0)}×); ` +
      `goal ≥ 20 M/s: ${ours.cpu >= 20 ? 'met' : 'NOT met'}`
  }
  if (hits < 0) log('unreachable: keeps the loops from being optimized away')
}

if (!flags['lookups-only']) {
  // --- balance over the hash space -------------------------------------------
  const ringShares = (ring: ShardRing) => ring.shards.map((s) => ring.slotCountOf(s.id) / ring.slotCount)
  const peakOverMean = (values: number[]) => Math.max(...values) / (values.reduce((a, b) => a + b, 0) / values.length)
  for (const [n, limit] of [
    [16, 1.01],
    [64, 1.03],
  ] as const) {
    log(`balance, ${n} shards`)
    const ours = peakOverMean(ringShares(ShardRing.build(equal(n))))
    const theirs = peakOverMean([...shares(hashringRouter(equal(n)).arcs()).values()])
    rows.push({
      metric: `peak/mean load, ${n} shards`,
      target: `≤ ${limit}`,
      ours: ours.toFixed(4),
      theirs: theirs.toFixed(4),
      ok: ours <= limit,
    })
  }

  // --- movement on adding a shard and removing each shard ---------------------
  for (const [n, limit] of [
    [16, 0.02],
    [64, 0.05],
  ] as const) {
    const base = equal(n)
    const ring = ShardRing.build(base)
    const theirRing = hashringRouter(base).arcs()
    const changes: { shards: ShardList; changed: string; ideal: number }[] = [
      { shards: [...base, { id: `shard-${n}`, weight: 1 }], changed: `shard-${n}`, ideal: 1 / (n + 1) },
      ...base.map((s) => ({ shards: base.filter((t) => t !== s), changed: s.id, ideal: 1 / n })),
    ]
    let ourWorst = 0
    let ourNeedless = 0
    let theirWorst = 0
    let theirNeedless = 0
    changes.forEach(({ shards, changed, ideal }, i) => {
      log(`movement, ${n} shards: ${i === 0 ? 'add' : 'remove'} ${changed}`)
      const moves = diffRings(ring, ShardRing.build(shards))
      const needless = moves.filter((m) => m.from !== changed && m.to !== changed).length
      ourWorst = Math.max(ourWorst, Math.abs(moves.length / ring.slotCount / ideal - 1))
      ourNeedless = Math.max(ourNeedless, needless / ring.slotCount)
      const theirs = movedBetween(theirRing, hashringRouter(shards).arcs(), changed)
      theirWorst = Math.max(theirWorst, Math.abs(theirs.moved / ideal - 1))
      theirNeedless = Math.max(theirNeedless, theirs.needless)
    })
    rows.push({
      metric: `keys moved vs ideal, worst of add + ${n} removals, ${n} shards`,
      target: `within ${pct(limit, 0)}`,
      ours: pct(ourWorst),
      theirs: pct(theirWorst),
      ok: ourWorst <= limit,
    })
    rows.push({
      metric: `keys moved needlessly, worst case, ${n} shards`,
      target: '≤ 0.01 %',
      ours: pct(ourNeedless, 4),
      theirs: pct(theirNeedless, 4),
      ok: ourNeedless <= 0.0001,
    })
  }

  // --- weighted shares ---------------------------------------------------------
  {
    log('weighted shares')
    const shards = weighted(16)
    const total = shards.reduce((sum, s) => sum + s.weight, 0)
    const targets = shards.map((s) => s.weight / total)
    const ring = ShardRing.build(shards)
    const ours = worstRelativeError(
      shards.map((s) => ring.slotCountOf(s.id) / ring.slotCount),
      targets,
    )
    const theirShares = shares(hashringRouter(shards).arcs())
    const theirs = worstRelativeError(
      shards.map((s) => theirShares.get(s.id) ?? 0),
      targets,
    )
    rows.push({
      metric: 'weighted share error, 16 shards, weights 1..4',
      target: '≤ 2 %',
      ours: pct(ours),
      theirs: pct(theirs),
      ok: ours <= 0.02,
    })
  }

  // --- build time ----------------------------------------------------------------
  for (const [label, shards] of [
    ['4 shards', equal(4)],
    ['16 shards', equal(16)],
    ['64 shards', equal(64)],
    ['64 shards, weights 1..4', weighted(64)],
  ] as const) {
    log(`build, ${label}`)
    const ours = timeRuns(REPEATS, () => ShardRing.build(shards))
    const theirs = timeRuns(REPEATS, () => hashringRouter(shards))
    const ms = (runs: { wall: number[]; cpu: number[] }, digits: number) =>
      `${median(runs.wall).toFixed(digits)} / ${median(runs.cpu).toFixed(digits)}`
    rows.push({
      metric: `build, ${label} (ms: wall / CPU)`,
      target: label.startsWith('64') ? '≤ 250' : '',
      ours: ms(ours, 0),
      theirs: ms(theirs, 1),
      ok: label.startsWith('64') ? median(ours.wall) <= 250 : undefined,
    })
  }
}

// --- report ------------------------------------------------------------------
const header: Row = { metric: 'metric', target: 'target', ours: 'shardtx', theirs: 'hashring 3.2.0', ok: undefined }
const cells = (r: Row) => [r.metric, r.target, r.ours, r.theirs, r === header ? 'met' : r.ok === undefined ? '' : r.ok ? 'yes' : 'NO']
const table = [header, ...rows].map(cells)
const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => row[c]!.length)))
const line = (row: string[]) => `| ${row.map((cell, c) => cell.padEnd(widths[c]!)).join(' | ')} |`
console.log(
  `Node ${process.version}, ${KEY_COUNT} keys (hashring: first ${HASHRING_KEY_COUNT}), medians of ${REPEATS} runs ` +
    `(hashring lookups: ${HASHRING_REPEATS}), load average ${loadAtStart.map((x) => x.toFixed(1)).join(' ')} at the start, ` +
    `${loadavg().map((x) => x.toFixed(1)).join(' ')} at the end`,
)
console.log(line(table[0]!))
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`)
for (const row of table.slice(1)) console.log(line(row))
console.log(`lookup speed of shardtx relative to hashring in the same run (CPU time): ${speedRatios.join(', ')}`)
console.log(headline)
