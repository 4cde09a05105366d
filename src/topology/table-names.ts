/**
 * The topology's tables are named after the log table, like its migrations table,
 * so clusters with different `logTable`s never share them.
 */
export function topologyTableOf(logTable: string): string {
  return `${logTable}_topology`
}

/** The one-row-per-shard table that holds the epoch each shard was last told. */
export function fenceTableOf(logTable: string): string {
  return `${logTable}_fence`
}

/** knex's record of the fence migration on shards other than the log shard. */
export function fenceMigrationsTableOf(logTable: string): string {
  return `${logTable}_fence_migrations`
}

/** Resharding jobs, on the log shard (docs/resharding.md). */
export function reshardTableOf(logTable: string): string {
  return `${logTable}_reshard`
}
