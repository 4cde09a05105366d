import { statSync } from 'node:fs'
import { resolve } from 'node:path'
import { booleanOption, functionOption, plainObject, positiveMs, rejectUnknownKeys } from '../config/validate.js'
import { ConfigError } from '../errors.js'
import type { MigrationProgress } from './migration-progress.js'

/**
 * Options of `cluster.migrateShards()`: your own knex migrations, run on every shard.
 *
 * ```ts
 * await cluster.migrateShards({
 *   directory: './migrations',
 *   tableName: 'knex_migrations',
 *   onProgress: (p) => console.error(p.shardId, p.event, p.migration),
 * })
 * ```
 */
export interface MigrateShardsOptions {
  /** Folder of knex migration files, relative to the working directory. */
  directory: string
  /**
   * knex's table recording which migrations ran, one per shard (default
   * `knex_migrations`, like knex; its lock table is `<tableName>_lock`).
   */
  tableName?: string
  /**
   * File endings that count as migrations (default `.js .mjs .cjs .ts .mts .cts`;
   * `.d.ts` files never count). TypeScript loads only where the runtime can
   * import it: under tsx or vitest, not plain Node 20.
   */
  loadExtensions?: string[]
  /** Runs each migration outside a transaction, as knex's option of that name (default false). */
  disableTransactions?: boolean
  /** Only these shards, by id (default: every shard). */
  shards?: string[]
  /** Told as each migration starts and ends on each shard; a throwing callback is ignored. */
  onProgress?: (progress: MigrationProgress) => void
  /**
   * Bound on each statement sent to a shard, in ms (default 60 000): a shard that stops
   * answering fails its migration with ShardUnresponsiveError instead of holding the run
   * until TCP gives up. Raise it for migrations with long-running statements.
   */
  statementTimeout?: number
}

/**
 * {@link MigrateShardsOptions} after validation, with defaults filled in.
 */
export interface ResolvedMigrateShardsOptions {
  directory: string
  tableName: string
  loadExtensions: string[]
  disableTransactions: boolean
  shards: string[]
  onProgress: (progress: MigrationProgress) => void
  statementTimeoutMs: number
}

/**
 * The file endings read as migrations unless `loadExtensions` says otherwise.
 */
export const DEFAULT_LOAD_EXTENSIONS = ['.js', '.mjs', '.cjs', '.ts', '.mts', '.cts']

const KEYS = ['directory', 'tableName', 'loadExtensions', 'disableTransactions', 'shards', 'onProgress', 'statementTimeout']
export const DEFAULT_MIGRATION_STATEMENT_TIMEOUT_MS = 60_000
/** knex quotes the name, but MySQL caps identifiers at 64 characters and the lock table adds `_lock`. */
const TABLE_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,58}$/

/**
 * Validates the options against the cluster's shard ids; every problem is a {@link ConfigError}.
 */
export function resolveMigrateShardsOptions(input: unknown, shardIds: string[]): ResolvedMigrateShardsOptions {
  const options = plainObject('options', input) as Partial<MigrateShardsOptions>
  rejectUnknownKeys('options', options, KEYS)
  const { directory, tableName = 'knex_migrations', loadExtensions = DEFAULT_LOAD_EXTENSIONS } = options
  if (typeof directory !== 'string' || directory === '') throw new ConfigError('directory', 'must name the folder of your migrations')
  const absolute = resolve(directory)
  if (!statSync(absolute, { throwIfNoEntry: false })?.isDirectory()) {
    throw new ConfigError('directory', `no such folder: ${absolute}`)
  }
  if (typeof tableName !== 'string' || !TABLE_PATTERN.test(tableName)) {
    throw new ConfigError('tableName', 'must be a plain SQL identifier of at most 59 characters')
  }
  if (!Array.isArray(loadExtensions) || loadExtensions.length === 0 || !loadExtensions.every((e) => typeof e === 'string' && /^\.\w+$/.test(e))) {
    throw new ConfigError('loadExtensions', "must list file endings like '.js'")
  }
  booleanOption('disableTransactions', options.disableTransactions)
  const shards = options.shards ?? shardIds
  if (!Array.isArray(shards) || shards.length === 0) throw new ConfigError('shards', 'must list at least one shard id')
  for (const id of shards) {
    if (!shardIds.includes(id)) throw new ConfigError('shards', `unknown shard "${String(id)}" (known: ${shardIds.join(', ')})`)
  }
  if (options.onProgress !== undefined) functionOption('onProgress', options.onProgress)
  const onProgress = options.onProgress
  return {
    directory: absolute,
    tableName,
    loadExtensions,
    disableTransactions: options.disableTransactions ?? false,
    statementTimeoutMs: positiveMs('statementTimeout', options.statementTimeout) ?? DEFAULT_MIGRATION_STATEMENT_TIMEOUT_MS,
    // Configuration order, whatever order the caller listed them in.
    shards: shardIds.filter((id) => shards.includes(id)),
    onProgress: (progress) => {
      try {
        onProgress?.(progress)
      } catch {
        // Progress reporting must never change what happens to the shards.
      }
    },
  }
}
