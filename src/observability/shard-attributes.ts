import type { Attributes } from '@opentelemetry/api'
import type { Dialect } from '../config/shard-config.js'

/** The shard facts a span of one shard carries. */
export interface ShardFacts {
  id: string
  dialect: Dialect
  connection: Record<string, unknown>
}

// OpenTelemetry's registered `db.system.name` values. A `mysql` shard may be MariaDB;
// the connection settings cannot tell, and both speak the MySQL protocol.
const SYSTEM_NAMES: Record<Dialect, string> = { postgres: 'postgresql', mysql: 'mysql' }

/**
 * The attributes of a span that talks to one shard, after OpenTelemetry's semantic
 * conventions for database clients (`db.system.name`, `db.namespace`,
 * `server.address`, `server.port`), plus the shard id. Never the user or password.
 */
export function shardAttributes(shard: ShardFacts): Attributes {
  const { host, port, database } = shard.connection
  const attributes: Attributes = { 'db.system.name': SYSTEM_NAMES[shard.dialect], 'shardtx.shard.id': shard.id }
  if (typeof database === 'string') attributes['db.namespace'] = database
  // pg takes a unix socket directory as `host`: not a server address.
  if (typeof host === 'string' && !host.startsWith('/')) attributes['server.address'] = host
  if (typeof port === 'number') attributes['server.port'] = port
  return attributes
}
