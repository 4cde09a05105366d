import type { Dialect } from '../config/shard-config.js'
import type { ResolvedLocalClusterOptions } from './local-cluster-options.js'

/**
 * One server to start and the shards (databases) it will hold.
 *
 * ```ts
 * const plan: ServerPlan = { dialect: 'mysql', name: 'mariadb-0', shards: [{ id: 'my-0', database: 'shardtx' }] }
 * ```
 */
export interface ServerPlan {
  dialect: Dialect
  /** `postgres-0`, `mariadb-1`, …: names the server's directory or container. */
  name: string
  shards: { id: string; database: string }[]
}

/**
 * Lays shards out over servers the same way for every backend: ids
 * `pg-0, pg-1, …` / `my-0, …` numbered across servers, database `shardtx`
 * when a server holds one shard, `shardtx_0, shardtx_1, …` when it holds several.
 *
 * ```ts
 * planServers({ postgres: 1, mysql: 0, databasesPerServer: 2 } as ResolvedLocalClusterOptions)
 * // [{ dialect: 'postgres', name: 'postgres-0', shards: [{ id: 'pg-0', database: 'shardtx_0' }, { id: 'pg-1', database: 'shardtx_1' }] }]
 * ```
 */
export function planServers(options: Pick<ResolvedLocalClusterOptions, 'postgres' | 'mysql' | 'databasesPerServer'>): ServerPlan[] {
  return [
    ...planDialect('postgres', 'postgres', 'pg', options.postgres, options.databasesPerServer),
    ...planDialect('mysql', 'mariadb', 'my', options.mysql, options.databasesPerServer),
  ]
}

function planDialect(dialect: Dialect, serverName: string, idPrefix: string, servers: number, perServer: number): ServerPlan[] {
  return Array.from({ length: servers }, (_, server) => ({
    dialect,
    name: `${serverName}-${server}`,
    shards: Array.from({ length: perServer }, (_, db) => ({
      id: `${idPrefix}-${server * perServer + db}`,
      database: perServer === 1 ? 'shardtx' : `shardtx_${db}`,
    })),
  }))
}
