/**
 * The SQL dialects a shard can speak. `mysql` covers MySQL 8 and MariaDB 10.5+.
 *
 * ```ts
 * const dialect: Dialect = 'postgres'
 * ```
 */
export type Dialect = 'postgres' | 'mysql'

/**
 * A knex-style connection object; a URL string is accepted too.
 *
 * ```ts
 * const connection: ConnectionObject = { host: 'db1', port: 3306, user: 'app', password: 'secret', database: 'app' }
 * ```
 */
export interface ConnectionObject {
  host?: string
  port?: number
  user?: string
  password?: string
  database?: string
  /** Unix socket path (pg: `host` set to the directory; mysql: `socketPath`). */
  socketPath?: string
  /** TLS: `true`, or the driver's TLS options. */
  ssl?: boolean | Record<string, unknown>
  /** Passed to the driver as they are (pg `Client` / mysql2 `createConnection` options). */
  driverOptions?: Record<string, unknown>
}

/**
 * One shard of the cluster.
 *
 * ```ts
 * const shard: ShardConfig = { id: 'pg-0', dialect: 'postgres', connection: 'postgres://app@db0/app' }
 * ```
 */
export interface ShardConfig {
  /** Stable name of the shard; routing depends on it, never on host or port. */
  id: string
  dialect: Dialect
  connection: string | ConnectionObject
  /** Relative share of keys (default 1). */
  weight?: number
  /** Pool size, in knex's shape. */
  pool?: { min?: number; max?: number }
}
