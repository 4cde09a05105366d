import type { Knex } from 'knex'
import { createLogTableMigration } from '../../migrations/20261129000000_create_shardtx_log.js'

/**
 * The table in which knex records which of shardtx's own migrations ran; named
 * after the log table, so a cluster with another `logTable` gets its own.
 */
export function migrationsTableOf(logTable: string): string {
  return `${logTable}_migrations`
}

/**
 * shardtx's own migrations, served from code rather than a directory so they
 * work the same from source, from `dist/` and from a bundle.
 */
export function logTableMigrationSource(table: string): Knex.MigrationSource<string> {
  const migrations: Record<string, Knex.Migration> = {
    '20261129000000_create_shardtx_log': createLogTableMigration(table),
  }
  return {
    getMigrations: async () => Object.keys(migrations),
    getMigrationName: (name) => name,
    getMigration: async (name) => migrations[name]!,
  }
}
