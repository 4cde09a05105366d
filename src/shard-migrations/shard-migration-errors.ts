import { ShardTxError } from '../errors.js'
import type { ShardMigrationStatus } from './shard-migration-status.js'

/**
 * `cluster.migrateShards()` stopped because a migration failed on some shard
 * (or a shard could not be read before anything ran). `shards` says exactly
 * where every shard stands; `cause` is the first shard's error.
 *
 * ```ts
 * try { await cluster.migrateShards({ directory: './migrations' }) }
 * catch (err) {
 *   if (err instanceof ShardMigrationError) console.table(err.shards.map((s) => [s.shardId, s.state, s.current]))
 * }
 * ```
 */
export class ShardMigrationError extends ShardTxError {
  readonly shards: ShardMigrationStatus[]

  constructor(shards: ShardMigrationStatus[]) {
    const failed = shards.filter((s) => s.state === 'failed')
    const what = failed.map((s) => `${s.shardId} (${s.error?.migration ?? 'before any migration'}: ${s.error?.message})`)
    const where = shards.map((s) => `${s.shardId} ${s.appliedBefore === undefined ? 'unknown' : (s.current ?? 'none')}`)
    super(`migrations failed on ${what.join('; ')}; shards now at: ${where.join(', ')}`, {
      code: 'MIGRATION_FAILED',
      cause: failed[0]?.error?.cause,
    })
    this.shards = shards
  }
}

/**
 * A migration file could not be loaded, or exports no `up` and `down`.
 * Found before any shard runs anything.
 *
 * ```ts
 * catch (err) { if (err instanceof MigrationLoadError) console.error(err.file, err.cause) }
 * ```
 */
export class MigrationLoadError extends ShardTxError {
  readonly file: string

  constructor(file: string, problem: string, cause?: unknown) {
    super(`migration ${file}: ${problem}`, { code: 'MIGRATION_LOAD', cause })
    this.file = file
  }
}
