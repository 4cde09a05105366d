import type { Knex } from 'knex'
import { createLogTableMigration } from '../../migrations/20261129000000_create_shardtx_log.js'
import { createFenceTableMigration, createTopologyTableMigration } from '../../migrations/20261201000000_create_shardtx_topology.js'
import { addReshardColumnMigration, createReshardJobTableMigration } from '../../migrations/20261206000000_create_shardtx_reshard.js'
import { fenceTableOf, reshardTableOf, topologyTableOf } from './table-names.js'

/**
 * shardtx's own migrations of the log shard, served from code (like the log
 * table's alone before topologies). A log shard migrated before topologies
 * existed gets the topology and fence tables added; its log table is left as it is.
 */
export function logShardMigrationSource(logTable: string): Knex.MigrationSource<string> {
  return sourceOf({
    '20261129000000_create_shardtx_log': createLogTableMigration(logTable),
    '20261201000000_create_shardtx_topology': createTopologyTableMigration(topologyTableOf(logTable)),
    '20261201000001_create_shardtx_fence': createFenceTableMigration(fenceTableOf(logTable)),
    '20261206000000_add_shardtx_topology_reshard': addReshardColumnMigration(topologyTableOf(logTable)),
    '20261206000001_create_shardtx_reshard': createReshardJobTableMigration(reshardTableOf(logTable)),
  })
}

/** The migrations of every other shard: only the fence table. */
export function fenceTableMigrationSource(logTable: string): Knex.MigrationSource<string> {
  return sourceOf({ '20261201000001_create_shardtx_fence': createFenceTableMigration(fenceTableOf(logTable)) })
}

function sourceOf(migrations: Record<string, Knex.Migration>): Knex.MigrationSource<string> {
  return {
    getMigrations: async () => Object.keys(migrations),
    getMigrationName: (name) => name,
    getMigration: async (name) => migrations[name]!,
  }
}
