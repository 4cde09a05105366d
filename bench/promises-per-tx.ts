/**
 * `node --import tsx bench/promises-per-tx.ts`: how many promises one sequential
 * W1 transfer creates (PostgreSQL ↔ MariaDB, the log shard inside), and where,
 * counted with an async hook over a few hundred transfers on throwaway servers.
 * Unlike CPU time it does not move with the machine's load, so a change to the
 * commit path can be compared exactly. Each promise costs its allocation, its
 * reactions and, while AsyncLocalStorage runs, Node 20's promise hooks.
 */
import { createHook } from 'node:async_hooks'
import { fileURLToPath } from 'node:url'
import { createCluster } from '../src/index.js'
import { positiveIntFlag, scriptFlags } from '../scripts/script-flags.js'
import { shardtxTransfer } from './transfer.js'
import { startTwoServerCluster } from './two-server-cluster.js'

const HELP = `node --import tsx bench/promises-per-tx.ts [flags]

Promises created per sequential W1 transfer, and the places that create the most.

  --tx N      transfers counted (default 200), after 300 uncounted ones
  --top N     places listed (default 25)
  -h, --help  this text
`
const flags = scriptFlags('bench/promises-per-tx', HELP, {
  tx: { type: 'string', default: '200' },
  top: { type: 'string', default: '25' },
})
const counted = positiveIntFlag('bench/promises-per-tx', 'tx', flags.tx!)
const top = positiveIntFlag('bench/promises-per-tx', 'top', flags.top!)

const ROOT = fileURLToPath(new URL('..', import.meta.url))

/** The first frame outside Node's internals, with its caller when it is a builtin (`Promise.then`). */
function placeOf(stack: string): string {
  const frames = stack
    .split('\n')
    .slice(2)
    .map((line) => line.trim().replace(/^at /, '').replaceAll(ROOT, ''))
    .filter((line) => !line.includes('node:internal') && !line.includes('async_hooks'))
  return frames[0]?.includes('<anonymous>') ? frames.slice(0, 2).join(' < ') : (frames[0] ?? '?')
}

const local = await startTwoServerCluster({ durable: false })
try {
  const shards = local.shards
  const cluster = createCluster({ shards, log: 'pg-0', recovery: false })
  for (let i = 0; i < 300; i++) await shardtxTransfer(cluster, 'pg-0', 'my-0')
  const places = new Map<string, number>()
  let total = 0
  Error.stackTraceLimit = 12
  const hook = createHook({
    init(_id, type) {
      if (type !== 'PROMISE') return
      total++
      const place = placeOf(new Error().stack ?? '')
      places.set(place, (places.get(place) ?? 0) + 1)
    },
  })
  hook.enable()
  for (let i = 0; i < counted; i++) await shardtxTransfer(cluster, 'pg-0', 'my-0')
  hook.disable()
  console.log(`promises per transfer: ${(total / counted).toFixed(1)} (${counted} transfers)`)
  for (const [place, n] of [...places].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${(n / counted).toFixed(2).padStart(6)}  ${place.slice(0, 150)}`)
  }
  await cluster.close()
} finally {
  await local.destroy()
}
