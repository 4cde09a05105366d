/**
 * What `cluster.migrateShards()` tells its `onProgress` callback: a migration
 * started, finished or failed on one shard. `ms` is how long it ran.
 *
 * ```ts
 * const onProgress = (p: MigrationProgress) => {
 *   if (p.event === 'failed') console.error(`${p.shardId}: ${p.migration} failed`, p.error)
 * }
 * ```
 */
export type MigrationProgress =
  | { event: 'started'; shardId: string; migration: string }
  | { event: 'finished'; shardId: string; migration: string; ms: number }
  | { event: 'failed'; shardId: string; migration: string; ms: number; error: unknown }
