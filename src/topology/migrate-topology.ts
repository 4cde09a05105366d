import type { Knex } from 'knex'
import { migrationsTableOf } from '../protocol/log-table-migrations.js'
import { fenceTableMigrationSource, logShardMigrationSource } from './topology-migrations.js'
import type { Logger } from '../logger.js'
import type { Participant } from '../protocol/participant.js'
import { describeShardError } from '../shard-error-text.js'
import { asUnavailable } from '../shard-unavailable.js'
import { createFenceTableMigration } from '../../migrations/20261201000000_create_shardtx_topology.js'
import { fenceMigrationsTableOf, fenceTableOf } from './table-names.js'
import { withBoundedKnex } from '../protocol/with-bounded-knex.js'

/**
 * `cluster.migrate()`: the log shard gets the log, topology and fence tables;
 * every other shard its fence table, tracked in a migrations table of its own
 * (a shard may share a database with the log shard). One shard at a time, log
 * shard first: two shards in one database must not race to create one table.
 * A shard other than the log shard that cannot be migrated now (down, login
 * refused) is skipped with a warning: until it gets its fence table, a branch
 * there fails with a ConfigError that says to run migrate again. Each shard
 * migrates on a knex of its own whose every statement is bounded by
 * `statementMs`: a shard that stopped answering fails (the log shard) or is
 * skipped (any other), never hangs the call.
 */
export async function migrateClusterTables(
  participants: Iterable<Participant>,
  logShardId: string,
  logTable: string,
  logger: Logger,
  statementMs: number,
): Promise<void> {
  const all = [...participants]
  const log = all.find((p) => p.shardId === logShardId)!
  try {
    await migrateLogShardTables(log, logTable, statementMs)
  } catch (error) {
    throw asUnavailable(log, 'could not migrate the log table', error)
  }
  for (const participant of all) {
    if (participant === log) continue
    try {
      await migrateBounded(participant, statementMs, {
        migrationSource: fenceTableMigrationSource(logTable),
        tableName: fenceMigrationsTableOf(logTable),
      })
    } catch (error) {
      logger.warn({ shardId: participant.shardId }, `migrate: shard ${participant.shardId} skipped (${describeShardError(error)}); run migrate again once it can be reached`)
    }
  }
}

/**
 * The log shard's tables (log, topology, fence, resharding jobs) on one shard, as
 * `migrate()` creates them on the log shard: idempotent. A log move creates them on
 * the shard it moves the log to (docs/moving-the-log.md).
 */
export async function migrateLogShardTables(participant: Participant, logTable: string, statementMs: number): Promise<void> {
  await migrateBounded(participant, statementMs, { migrationSource: logShardMigrationSource(logTable), tableName: migrationsTableOf(logTable) })
}

async function migrateBounded(participant: Participant, statementMs: number, config: Knex.MigratorConfig): Promise<void> {
  await withBoundedKnex(participant, statementMs, (knex) => knex.migrate.latest(config))
}

/**
 * Creates one shard's fence table if it has none, whatever its migrations table
 * says (the table may have been dropped by hand after the migration ran). Every
 * statement bounded by `statementMs`: the load of the topology may run this.
 */
export async function createFenceTable(participant: Participant, logTable: string, statementMs: number): Promise<void> {
  await withBoundedKnex(participant, statementMs, async (knex) => {
    await createFenceTableMigration(fenceTableOf(logTable)).up(knex)
  })
}
