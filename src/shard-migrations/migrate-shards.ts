import { performance } from 'node:perf_hooks'
import type { Knex } from 'knex'
import { traitsOf } from '../../adapters/index.js'
import type { Dialect } from '../config/shard-config.js'
import { DirectoryMigrationSource, type MigrationFile } from './directory-migration-source.js'
import { type MigrateShardsOptions, type ResolvedMigrateShardsOptions, resolveMigrateShardsOptions } from './migrate-shards-options.js'
import { ShardMigrationError } from './shard-migration-errors.js'
import { describeShardError } from '../shard-error-text.js'
import type { ShardMigrationFailure, ShardMigrationStatus } from './shard-migration-status.js'

/**
 * A shard as the migration runner needs it: a participant fits.
 */
export interface MigrationTarget {
  readonly shardId: string
  readonly dialect: Dialect
  readonly knex: Knex
  /** A knex of its own that bounds every statement (a participant has one); used instead of `knex` when present. */
  boundedKnex?(statementMs: number): Knex
}

/** One shard's progress through a run. */
interface ShardRun {
  target: MigrationTarget
  appliedBefore: string[] | undefined
  appliedNow: string[]
  failure: ShardMigrationFailure | undefined
}

/**
 * Runs the migrations of a folder on every shard, each shard with its own knex
 * migrator and its own migrations table, in lockstep:
 *
 * 1. **Read** every shard's migrations table, in parallel. A shard that cannot be
 *    read (unreachable, or it recorded a file the folder lacks) stops the run
 *    before any shard changes.
 * 2. **Load** every migration some shard lacks: a broken file stops the run
 *    before any shard changes.
 * 3. **Apply** the migrations one at a time, in file-name order: migration N runs
 *    on every shard that lacks it, in parallel; N+1 starts only after N finished
 *    everywhere. A shard that lacks older migrations than the others (a new shard)
 *    catches up on the way.
 *
 * "Stop" therefore means: when migration N fails on a shard, the shards running N
 * at the same moment finish it, and no shard starts anything after N. Every shard
 * is then at N or just before it, and the thrown {@link ShardMigrationError} says
 * which. Each migration runs in its own knex transaction and is its own knex batch,
 * so `knex migrate:rollback` on a shard undoes one migration at a time.
 */
export async function migrateShards(
  targets: readonly MigrationTarget[],
  input: MigrateShardsOptions,
): Promise<ShardMigrationStatus[]> {
  const options = resolveMigrateShardsOptions(input, targets.map((t) => t.shardId))
  const source = new DirectoryMigrationSource(options.directory, options.loadExtensions)
  const files = source.list()
  // knex would swap a migrationSource for its own loader if given a directory or loadExtensions.
  const config: Knex.MigratorConfig = {
    migrationSource: source,
    tableName: options.tableName,
    disableTransactions: options.disableTransactions,
  }
  // Each shard migrates on a knex of its own whose statements are bounded, closed at the end.
  const bounded = targets
    .filter((t) => options.shards.includes(t.shardId))
    .map((t) => ({ shardId: t.shardId, dialect: t.dialect, knex: t.boundedKnex?.(options.statementTimeoutMs) ?? t.knex, own: t.boundedKnex !== undefined }))
  try {
    return await runInLockstep(bounded, source, files, config, options)
  } finally {
    await Promise.all(bounded.filter((t) => t.own).map((t) => t.knex.destroy()))
  }
}

async function runInLockstep(
  targets: MigrationTarget[],
  source: DirectoryMigrationSource,
  files: MigrationFile[],
  config: Knex.MigratorConfig,
  options: ResolvedMigrateShardsOptions,
): Promise<ShardMigrationStatus[]> {
  const runs = await Promise.all(targets.map((target) => readShard(target, config)))
  const statuses = (): ShardMigrationStatus[] => runs.map((run) => statusOf(run, files))
  if (runs.some((run) => run.failure !== undefined)) throw new ShardMigrationError(statuses())

  const due = files.filter((file) => runs.some((run) => !applied(run).includes(file.name)))
  await Promise.all(due.map((file) => source.getMigration(file)))

  for (const file of due) {
    await Promise.all(
      runs.filter((run) => !applied(run).includes(file.name)).map((run) => applyOne(run, file, source, config, options)),
    )
    if (runs.some((run) => run.failure !== undefined)) throw new ShardMigrationError(statuses())
  }
  return statuses()
}

async function readShard(target: MigrationTarget, config: Knex.MigratorConfig): Promise<ShardRun> {
  const run: ShardRun = { target, appliedBefore: undefined, appliedNow: [], failure: undefined }
  try {
    // Creates the migrations table (and its lock table) when missing, as knex always does.
    const [completed] = (await target.knex.migrate.list(config)) as [({ name: string } | string)[], unknown[]]
    run.appliedBefore = completed.map((c) => (typeof c === 'string' ? c : c.name))
  } catch (error) {
    run.failure = { migration: undefined, message: describeShardError(error), mayBePartial: false, cause: error }
  }
  return run
}

async function applyOne(
  run: ShardRun,
  file: MigrationFile,
  source: DirectoryMigrationSource,
  config: Knex.MigratorConfig,
  options: ResolvedMigrateShardsOptions,
): Promise<void> {
  const { shardId, dialect } = run.target
  options.onProgress({ event: 'started', shardId, migration: file.name })
  const started = performance.now()
  try {
    // knex re-reads the table under its lock and reports what it ran: another
    // process may have applied this migration meanwhile.
    const [, ran] = (await run.target.knex.migrate.up({ ...config, name: file.name })) as [number, string[]]
    run.appliedNow.push(...ran)
    options.onProgress({ event: 'finished', shardId, migration: file.name, ms: performance.now() - started })
  } catch (error) {
    const migration = await source.getMigration(file)
    const inTransaction = !options.disableTransactions && (migration as { config?: { transaction?: unknown } }).config?.transaction !== false
    run.failure = {
      migration: file.name,
      message: messageOf(error),
      // Another process holding knex's lock means nothing of this migration ran here.
      mayBePartial: (error as Error).name !== 'MigrationLocked' && (!traitsOf(dialect).transactionalDdl || !inTransaction),
      cause: error,
    }
    options.onProgress({ event: 'failed', shardId, migration: file.name, ms: performance.now() - started, error })
  }
}

function applied(run: ShardRun): string[] {
  return [...(run.appliedBefore ?? []), ...run.appliedNow]
}

function statusOf(run: ShardRun, files: MigrationFile[]): ShardMigrationStatus {
  const known = run.appliedBefore !== undefined
  const done = applied(run)
  const pending = known ? files.map((f) => f.name).filter((name) => !done.includes(name)) : undefined
  const state = run.failure !== undefined
    ? 'failed'
    : pending!.length > 0
      ? 'stopped'
      : run.appliedNow.length > 0
        ? 'migrated'
        : 'up-to-date'
  return {
    shardId: run.target.shardId,
    dialect: run.target.dialect,
    state,
    appliedBefore: run.appliedBefore === undefined ? undefined : [...run.appliedBefore],
    appliedNow: [...run.appliedNow],
    current: done.at(-1),
    pending,
    ...(run.failure === undefined ? {} : { error: run.failure }),
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
