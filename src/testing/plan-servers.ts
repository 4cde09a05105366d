import type { Dialect } from '../config/shard-config.js'
import type { ServerPlan } from './server-plan.js'
import { TEST_DIALECTS, TESTED_DIALECTS } from './test-dialects.js'

/**
 * Lays shards out over servers the same way for every backend: ids
 * `pg-0, pg-1, …` / `my-0, …` numbered across servers, database `shardtx`
 * when a server holds one shard, `shardtx_0, shardtx_1, …` when it holds several.
 */
export function planServers(options: { servers: Readonly<Record<Dialect, number>>; databasesPerServer: number }): ServerPlan[] {
  return TESTED_DIALECTS.flatMap((dialect) => planDialect(dialect, options.servers[dialect], options.databasesPerServer))
}

function planDialect(dialect: Dialect, servers: number, perServer: number): ServerPlan[] {
  const { serverName, shardIdPrefix } = TEST_DIALECTS[dialect]
  return Array.from({ length: servers }, (_, server) => ({
    dialect,
    name: `${serverName}-${server}`,
    shards: Array.from({ length: perServer }, (_, db) => ({
      id: `${shardIdPrefix}-${server * perServer + db}`,
      database: perServer === 1 ? 'shardtx' : `shardtx_${db}`,
    })),
  }))
}
