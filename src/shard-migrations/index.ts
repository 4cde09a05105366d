/**
 * Your own knex migrations, run on every shard: see {@link migrateShards}.
 *
 * @module
 */
export { migrateShards, type MigrationTarget } from './migrate-shards.js'
export { type MigrateShardsOptions, DEFAULT_LOAD_EXTENSIONS } from './migrate-shards-options.js'
export type { MigrationProgress } from './migration-progress.js'
export { MigrationLoadError, ShardMigrationError } from './shard-migration-errors.js'
export type { ShardMigrationFailure, ShardMigrationState, ShardMigrationStatus } from './shard-migration-status.js'
export { DirectoryMigrationSource, type MigrationFile } from './directory-migration-source.js'
export { probeShards, type ShardStatus } from './shard-status.js'
