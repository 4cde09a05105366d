import { resolve } from 'node:path'
import { ShardMigrationError } from '../../shard-migrations/shard-migration-errors.js'
import type { ShardMigrationStatus } from '../../shard-migrations/shard-migration-status.js'
import type { MigrationProgress } from '../../shard-migrations/migration-progress.js'
import type { Command } from '../command-context.js'
import { ExitCode } from '../exit-codes.js'
import { rethrowExplained } from '../failure-exit.js'
import { textTable } from '../text-table.js'
import { unreachableShards } from '../unreachable-shards.js'

/**
 * `shardtx migrate`: creates the log shard's tables (log, topology, fence, resharding jobs) and every other shard's fence table.
 * `shardtx migrate --shards`: runs the knex migrations of `--directory` on every
 * shard through `cluster.migrateShards()`, prints each shard's status, and exits
 * 1 when a migration failed (3 when a shard could not be reached; then no shard
 * was changed).
 */
export const migrateCommand: Command = async (context) => {
  const { cluster, args, out, logShardId, logTable, cwd } = context
  if (!args.shards) {
    out.progress(`creating the log table ${logTable} on ${logShardId}…`)
    try {
      await cluster.migrate()
    } catch (error) {
      return rethrowExplained(cluster, [logShardId], error)
    }
    out.result({ logShard: logShardId, logTable }, () => `log table ${logTable} is ready on ${logShardId}`)
    return ExitCode.Ok
  }
  const directory = resolve(cwd, args.directory ?? 'migrations')
  out.progress(`running the migrations of ${directory} on ${(args.only ?? cluster.shardIds).join(', ')}…`)
  try {
    const shards = await cluster.migrateShards({
      directory,
      ...(args.table === undefined ? {} : { tableName: args.table }),
      ...(args.only === undefined ? {} : { shards: args.only }),
      onProgress: (p) => out.progress(progressLine(p)),
    })
    out.result({ shards }, () => statusTable(shards))
    return ExitCode.Ok
  } catch (error) {
    if (!(error instanceof ShardMigrationError)) throw error
    return migrationFailed(context, error)
  }
}

async function migrationFailed({ cluster, out }: Parameters<Command>[0], error: ShardMigrationError): Promise<ExitCode> {
  // A shard that failed before any migration ran is usually a shard that is down.
  const unread = error.shards.filter((s) => s.state === 'failed' && s.error?.migration === undefined).map((s) => s.shardId)
  const unreachable = unread.length === 0 ? [] : await unreachableShards(cluster, unread)
  out.result({ error: { code: error.code, message: error.message }, shards: error.shards, unreachable }, () =>
    statusTable(error.shards),
  )
  const failed = error.shards.filter((s) => s.state === 'failed')
  out.problem(
    `error: migrations stopped: ${failed.map((s) => `${s.shardId} failed ${s.error?.migration ?? 'before any migration'}`).join(', ')}; no shard started a later migration`,
  )
  if (failed.some((s) => s.error?.mayBePartial)) {
    out.problem('warning: a failed migration may be partly applied where DDL commits at once (MySQL/MariaDB) or ran outside a transaction; check it before running again')
  }
  return unreachable.length > 0 ? ExitCode.Unreachable : ExitCode.Failed
}

function progressLine(p: MigrationProgress): string {
  if (p.event === 'started') return `${p.shardId}: ${p.migration} …`
  if (p.event === 'finished') return `${p.shardId}: ${p.migration} done (${Math.round(p.ms)} ms)`
  return `${p.shardId}: ${p.migration} FAILED (${Math.round(p.ms)} ms)`
}

function statusTable(shards: ShardMigrationStatus[]): string {
  return textTable(
    ['SHARD', 'STATE', 'BEFORE', 'NOW', 'PENDING', 'CURRENT', 'ERROR'],
    shards.map((s) => [
      s.shardId,
      s.state,
      s.appliedBefore === undefined ? '?' : String(s.appliedBefore.length),
      String(s.appliedNow.length),
      s.pending === undefined ? '?' : String(s.pending.length),
      s.appliedBefore === undefined ? '?' : (s.current ?? '-'),
      s.error === undefined ? '' : `${s.error.migration === undefined ? '' : `${s.error.migration}: `}${firstLine(s.error.message)}${s.error.mayBePartial ? ' (may be partly applied)' : ''}`,
    ]),
  )
}

function firstLine(text: string): string {
  return text.split('\n')[0]!
}

