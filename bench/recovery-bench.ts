import { createCluster, type ShardConfig } from '../src/index.js'
import type { LocalCluster } from '../src/testing/index.js'
import { BranchFactory } from '../test/helpers/abandoned-branches.js'
import { measure } from './measure.js'
import { shardtxTransfer } from './transfer.js'

const RECOVERY_SHARDS = ['pg-1', 'pg-3', 'my-1', 'my-3']
const PREFIX = 'rb_'

/**
 * Issue 5's numbers: how fast one `recover()` settles many abandoned branches
 * spread over 4 shards, and how much foreground throughput is left while
 * background recovery works through the same number.
 */
export async function measureRecovery(
  _local: LocalCluster,
  shards: ShardConfig[],
  quick: boolean,
  settings: { warmupMs: number; durationMs: number },
  log: (line: string) => void,
) {
  const branches = quick ? 2_000 : 10_000
  const factory = new BranchFactory(shards, PREFIX)
  const recoverer = createCluster({ shards, log: 'pg-1', prefix: PREFIX, recovery: { enabled: false, graceMs: 0 } })
  await recoverer.migrate()
  for (const id of RECOVERY_SHARDS) {
    const knex = recoverer.forShard(id)
    await knex.schema.dropTableIfExists('rb_rows')
    await knex.schema.createTable('rb_rows', (t) => t.bigInteger('id').primary())
  }
  let nextRow = 0
  const abandon = async (): Promise<void> => {
    const txs = Array.from({ length: branches / RECOVERY_SHARDS.length }, () => BranchFactory.oldTxId())
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < txs.length) {
        const txId = txs[next++]!
        const row = nextRow++
        await Promise.all(RECOVERY_SHARDS.map((id) => factory.prepare(id, txId, { table: 'rb_rows', row: { id: row } })))
      }
    }
    await Promise.all(Array.from({ length: 8 }, worker))
  }

  log(`recovery: preparing ${branches} abandoned branches on ${RECOVERY_SHARDS.join(', ')}`)
  await abandon()
  const started = performance.now()
  const report = await recoverer.recover()
  const seconds = (performance.now() - started) / 1000
  const settled = report.rolledBack.length + report.committed.length
  log(`recovery: settled ${settled} branches in ${seconds.toFixed(2)} s`)

  // Foreground: W1 PG↔MariaDB at 16 clients, alone and while background recovery runs.
  const foreground = createCluster({ shards, log: 'pg-0', recovery: false })
  const transfer = (): Promise<void> => shardtxTransfer(foreground, 'pg-0', 'my-0')
  const alone = await measure({ ...settings, concurrency: 16 }, transfer)
  await abandon()
  const background = createCluster({ shards, log: 'pg-1', prefix: PREFIX, recovery: { intervalMs: 50, graceMs: 0 } })
  const backgroundStarted = performance.now()
  let backgroundSeconds: number | undefined
  const watch = setInterval(() => {
    if (backgroundSeconds === undefined && background.stats().recovered.rolledBack >= branches) {
      backgroundSeconds = (performance.now() - backgroundStarted) / 1000
    }
  }, 20)
  const during = await measure({ warmupMs: 0, durationMs: settings.durationMs, concurrency: 16 }, transfer)
  clearInterval(watch)
  await background.close()
  await Promise.all([foreground.close(), recoverer.close(), factory.close()])
  return {
    branches,
    shards: RECOVERY_SHARDS.length,
    recoverSeconds: Number(seconds.toFixed(2)),
    settled,
    foregroundAloneTxPerSec: Math.round(alone.txPerSec),
    foregroundDuringRecoveryTxPerSec: Math.round(during.txPerSec),
    foregroundRatio: Number((during.txPerSec / alone.txPerSec).toFixed(2)),
    backgroundRecoverySeconds: backgroundSeconds === undefined ? 'not finished within the window' : Number(backgroundSeconds.toFixed(2)),
  }
}
