import type { Dialect } from '../config/shard-config.js'

/**
 * Where one shard stands after `cluster.migrateShards()`:
 * - `up-to-date`: it had every migration already;
 * - `migrated`: this run applied what it lacked, and it now has every migration;
 * - `failed`: a migration failed here (or the shard could not be read); see `error`;
 * - `stopped`: it still lacks migrations because the run stopped after a failure elsewhere.
 *
 * ```ts
 * const behind = statuses.filter((s) => s.state === 'stopped' || s.state === 'failed')
 * ```
 */
export type ShardMigrationState = 'up-to-date' | 'migrated' | 'failed' | 'stopped'

/**
 * One row of the per-shard status table `cluster.migrateShards()` returns, and
 * that {@link ShardMigrationError} carries.
 *
 * ```ts
 * for (const s of await cluster.migrateShards({ directory: './migrations' })) {
 *   console.log(s.shardId, s.state, s.appliedNow.length, s.current)
 * }
 * ```
 */
export interface ShardMigrationStatus {
  shardId: string
  dialect: Dialect
  state: ShardMigrationState
  /** Migrations the shard had before this run, in the order they ran; undefined when it could not be read. */
  appliedBefore: string[] | undefined
  /** Migrations this run applied on the shard, in order. */
  appliedNow: string[]
  /** The last migration applied on the shard after this run; undefined when none (or unknown). */
  current: string | undefined
  /** Migrations of the folder the shard still lacks; undefined when it could not be read. */
  pending: string[] | undefined
  /** Why the shard failed (state `failed` only). */
  error?: ShardMigrationFailure
}

/**
 * What failed on one shard.
 *
 * ```ts
 * if (status.error?.mayBePartial) console.warn(`${status.shardId}: check ${status.error.migration} by hand`)
 * ```
 */
export interface ShardMigrationFailure {
  /** The migration that failed; undefined when the shard failed before any ran (unreachable, or its records name files the folder lacks). */
  migration: string | undefined
  message: string
  /**
   * True when the failed migration may have left part of its changes behind:
   * MySQL/MariaDB commit every DDL statement on the spot (knex's transaction
   * cannot undo them), and so does any migration run outside a transaction.
   * knex did not record the migration, so the next run starts it again from the top.
   */
  mayBePartial: boolean
  /** The error as thrown (driver errors keep their `code`). */
  cause: unknown
}
