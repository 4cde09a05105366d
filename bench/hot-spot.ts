/**
 * The hot-spot benchmark on its own (it also runs in `npm run bench -- --only hotspot`):
 *
 *   npx tsx bench/hot-spot.ts [--quick]
 */
import { parseArgs } from 'node:util'
import { startLocalCluster } from '../src/testing/index.js'
import { measureHotSpots } from './hot-spot-bench.js'

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } })
const local = await startLocalCluster({ postgres: 2, mysql: 2, durable: true })
try {
  const { ratios } = await measureHotSpots(local.shards, { quick: values.quick!, log: (line) => console.log(line) })
  for (const r of ratios) {
    console.log(`H=${r.hotRows} retry=${r.retry}: 64-client / 4-client throughput ${r.ratio64to4.toFixed(2)}, 64 / 16 ${r.ratio64to16.toFixed(2)}`)
  }
} finally {
  await local.destroy()
}
