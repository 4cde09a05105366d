import { fenceTableMigrationSource, logTableMigrationSource, migrationsTableOf } from '../log-table-migrations.js'
import type { Participant } from '../participant.js'
import { fenceMigrationsTableOf } from './table-names.js'

/**
 * `cluster.migrate()`: the log shard gets the log, topology and fence tables;
 * every other shard its fence table, tracked in a migrations table of its own
 * (a shard may share a database with the log shard). One shard at a time, log
 * shard first: two shards in one database must not race to create one table.
 */
export async function migrateClusterTables(participants: Iterable<Participant>, logShardId: string, logTable: string): Promise<void> {
  const all = [...participants]
  const log = all.find((p) => p.shardId === logShardId)!
  await log.knex.migrate.latest({ migrationSource: logTableMigrationSource(logTable), tableName: migrationsTableOf(logTable) })
  for (const participant of all) {
    if (participant === log) continue
    await participant.knex.migrate.latest({
      migrationSource: fenceTableMigrationSource(logTable),
      tableName: fenceMigrationsTableOf(logTable),
    })
  }
}
