import type { ShardConfig } from '../config/shard-config.js'
import type { ServerInfo } from './local-cluster.js'
import type { ServerPlan } from './server-plan.js'

/**
 * What a backend does for one server; {@link ManagedCluster} maps shard ids
 * onto it, serializes the calls and refuses them after destroy.
 */
export interface ManagedServer {
  readonly plan: ServerPlan
  /** The shard configs pointing at this server, one per planned database. */
  readonly shards: ShardConfig[]
  info(): ServerInfo
  kill(): Promise<void>
  stop(): Promise<void>
  /** Starts the server again on the same data and port, stopping it first if it runs. */
  restart(): Promise<void>
  destroy(): Promise<void>
}

/**
 * Builds the shard configs of one planned server.
 */
export function shardConfigsFor(
  plan: ServerPlan,
  login: { host: string; port: number; user: string; password: string },
): ShardConfig[] {
  return plan.shards.map(({ id, database }) => ({
    id,
    dialect: plan.dialect,
    connection: { host: login.host, port: login.port, user: login.user, password: login.password, database },
  }))
}
