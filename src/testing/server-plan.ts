import type { Dialect } from '../config/shard-config.js'

/**
 * One server to start and the shards (databases) it will hold.
 */
export interface ServerPlan {
  dialect: Dialect
  /** `postgres-0`, `mariadb-1`, …: names the server's directory or container. */
  name: string
  shards: { id: string; database: string }[]
}
