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
  if (settled < branches) {
    const reasons = report.skipped.map((s) => s.reason).join(', ')
    log(`recovery: left ${report.skipped.length} skipped (${reasons}), ${report.failed.length} failed ${JSON.stringify(report.failed.slice(0, 3))}`)
    const left = await recoverer.inDoubt()
    log(`recovery: still in doubt after the round: ${JSON.stringify(left.slice(0, 8).map((b) => [b.txId, b.shardId]))}`)
    const again = await recoverer.recover()
    log(`recovery: a second round settled ${again.rolledBack.length + again.committed.length}`)
  }

  // Foreground: W1 PG↔MariaDB at 16 clients. In-doubt branches slow a server down by
  // being there (every snapshot lists them), so the baseline is the workload beside
  // them with recovery off. This machine's speed drifts by more than the effect
  // measured, so many short windows with and without background recovery alternate
  // and the ratio is of their totals.
  const foreground = createCluster({ shards, log: 'pg-0', recovery: false })
  const transfer = (): Promise<void> => shardtxTransfer(foreground, 'pg-0', 'my-0')
  const alone = await measure({ ...settings, concurrency: 16 }, transfer)
  const window = { warmupMs: 300, durationMs: quick ? 1_000 : 2_000, concurrency: 16 }
  const pairs = quick ? 2 : 10
  await abandon()
  const without: number[] = []
  const withRecovery: number[] = []
  let settledInBackground = 0
  let backgroundMs = 0
  const measureWithRecovery = async (): Promise<void> => {
    // Background recovery as shipped (default pace), a fresh cluster: its first round starts at
    // once. The window opens when the round has listed the branches and settles them: a round
    // lists once and then, paced, settles for minutes (10 000 branches at ~50/s), so a 2-s window
    // that held the listing would weigh it a hundred times over.
    const background = createCluster({ shards, log: 'pg-1', prefix: PREFIX, recovery: { graceMs: 0 } })
    const settling = performance.now()
    while (background.stats().recovered.rolledBack === 0 && performance.now() - settling < 30_000) {
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    const settledBefore = background.stats().recovered.rolledBack
    const started = performance.now()
    withRecovery.push((await measure(window, transfer)).txPerSec)
    await background.close()
    backgroundMs += performance.now() - started
    settledInBackground += background.stats().recovered.rolledBack - settledBefore
  }
  // The order alternates (without, with; with, without; …): throughput drifting up
  // or down over the run then favours neither side.
  for (let pair = 0; pair < pairs; pair++) {
    if (pair % 2 === 1) await measureWithRecovery()
    without.push((await measure(window, transfer)).txPerSec)
    if (pair % 2 === 0) await measureWithRecovery()
  }
  // Whatever background recovery left is settled at full speed, for the next benchmark.
  await recoverer.recover()
  await Promise.all([foreground.close(), recoverer.close(), factory.close()])
  const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0)
  return {
    branches,
    shards: RECOVERY_SHARDS.length,
    recoverSeconds: Number(seconds.toFixed(2)),
    settled,
    foregroundWithoutInDoubtTxPerSec: Math.round(alone.txPerSec),
    foregroundBesideInDoubtTxPerSec: without.map(Math.round),
    foregroundDuringBackgroundRecoveryTxPerSec: withRecovery.map(Math.round),
    foregroundRatio: Number((sum(withRecovery) / sum(without)).toFixed(2)),
    backgroundSettledPerSec: Math.round(settledInBackground / (backgroundMs / 1000)),
  }
}
