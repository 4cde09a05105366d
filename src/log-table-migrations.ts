import type { Knex } from 'knex'
import { createLogTableMigration } from '../migrations/20261129000000_create_shardtx_log.js'
import { createFenceTableMigration, createTopologyTableMigration } from '../migrations/20261201000000_create_shardtx_topology.js'
import { fenceTableOf, topologyTableOf } from './topology/table-names.js'

/**
 * The table in which knex records which of shardtx's own migrations ran; named
 * after the log table, so a cluster with another `logTable` gets its own.
 */
export function migrationsTableOf(logTable: string): string {
  return `${logTable}_migrations`
}

/**
 * shardtx's own migrations of the log shard, served from code rather than a
 * directory so they work the same from source, from `dist/` and from a bundle.
 * A log shard migrated before topologies existed gets the topology and fence
 * tables added; its log table is left as it is.
 */
export function logTableMigrationSource(table: string): Knex.MigrationSource<string> {
  return sourceOf({
    '20261129000000_create_shardtx_log': createLogTableMigration(table),
    '20261201000000_create_shardtx_topology': createTopologyTableMigration(topologyTableOf(table)),
    '20261201000001_create_shardtx_fence': createFenceTableMigration(fenceTableOf(table)),
  })
}

/** The migrations of every other shard: only the fence table. */
export function fenceTableMigrationSource(table: string): Knex.MigrationSource<string> {
  return sourceOf({ '20261201000001_create_shardtx_fence': createFenceTableMigration(fenceTableOf(table)) })
}

function sourceOf(migrations: Record<string, Knex.Migration>): Knex.MigrationSource<string> {
  return {
    getMigrations: async () => Object.keys(migrations),
    getMigrationName: (name) => name,
    getMigration: async (name) => migrations[name]!,
  }
}
