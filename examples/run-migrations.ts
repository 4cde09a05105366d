/**
 * Runs the knex migrations of `examples/migrations/` on every shard of a throwaway
 * cluster (2 PostgreSQL + 2 MariaDB servers), prints where each shard stands, runs
 * them again to show there is nothing left to do, then removes the servers.
 *
 * Run it: `npx tsx examples/run-migrations.ts`
 *
 * ```ts
 * const statuses = await cluster.migrateShards({ directory: 'examples/migrations' })
 * ```
 */
import { fileURLToPath } from 'node:url'
import { createCluster, ShardMigrationError, type ShardMigrationStatus } from '../src/index.js'
import { startLocalCluster } from '../src/testing/index.js'

const directory = fileURLToPath(new URL('./migrations', import.meta.url))

/** One row of the status table, as console.table shows it. */
function row(status: ShardMigrationStatus): Record<string, unknown> {
  return {
    shard: status.shardId,
    state: status.state,
    'applied before': status.appliedBefore?.length ?? '?',
    'applied now': status.appliedNow.length,
    current: status.current ?? '-',
    error: status.error === undefined ? '' : `${status.error.migration ?? ''} ${status.error.message}`,
  }
}

const local = await startLocalCluster({ postgres: 2, mysql: 2, durable: false })
const cluster = createCluster({ shards: local.shards, recovery: false })
try {
  console.log(`migrating ${cluster.shardIds.join(', ')} from ${directory}`)
  const first = await cluster.migrateShards({
    directory,
    onProgress: (p) => {
      if (p.event !== 'started') console.log(`  ${p.shardId}: ${p.migration} ${p.event} in ${Math.round(p.ms)} ms`)
    },
  })
  console.table(first.map(row))

  console.log('again: every shard is up to date, so nothing runs')
  console.table((await cluster.migrateShards({ directory })).map(row))
} catch (error) {
  // Where every shard stopped: at the failed migration or just before it (see docs/cli.md).
  if (error instanceof ShardMigrationError) console.table(error.shards.map(row))
  throw error
} finally {
  await cluster.close()
  await local.destroy()
}
