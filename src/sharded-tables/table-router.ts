import type { ClusterRuntime } from '../cluster-runtime.js'
import type { Dialect } from '../config/shard-config.js'
import { ConfigError } from '../errors.js'
import type { ResolvedTable } from './table-declaration.js'

/**
 * What a builder needs from its cluster to route one declared table: the
 * declaration, the shards in configuration order, and the ring.
 */
export interface TableRouter {
  readonly table: ResolvedTable
  /** Every shard the topology routes to, in configuration order: fan-outs and reference writes go to these. */
  readonly shardIds: readonly string[]
  /** Where reference tables are read: the log shard, a fixed choice so reads are repeatable. */
  readonly referenceShardId: string
  dialectOf(shardId: string): Dialect
  shardFor(key: unknown): string
}

const routers = new WeakMap<ClusterRuntime, Map<string, TableRouter>>()

/**
 * The router of table `name`, made once per cluster; a {@link ConfigError}
 * when the table was not declared in the cluster's `tables`.
 */
export function tableRouter(runtime: ClusterRuntime, name: string): TableRouter {
  let byName = routers.get(runtime)
  if (byName === undefined) routers.set(runtime, (byName = new Map()))
  let router = byName.get(name)
  if (router === undefined) {
    const { config } = runtime
    const table = config.tables.get(name)
    if (table === undefined) {
      const declared = [...config.tables.keys()]
      throw new ConfigError(
        'table',
        `"${String(name)}" is not declared in the cluster's tables (${declared.length === 0 ? 'none declared' : `declared: ${declared.join(', ')}`})`,
      )
    }
    const dialects = new Map(config.shards.map((s) => [s.id, s.dialect]))
    router = {
      table,
      // A configured shard outside the topology holds no rows of it.
      get shardIds() {
        return runtime.routedShardIds()
      },
      // Reference tables are read on the log shard in force (it follows a moved log).
      get referenceShardId() {
        return runtime.topology.logShardId
      },
      dialectOf: (shardId) => dialects.get(shardId)!,
      shardFor: (key) => runtime.shardFor(key),
    }
    byName.set(name, router)
  }
  return router
}
