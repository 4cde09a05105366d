import type { Logger } from '../src/logger.js'

/** What an adapter needs to serve one shard; built from the validated cluster config. */
export interface ParticipantSettings {
  shardId: string
  /** Marks our branches in `pg_prepared_xacts` / `XA RECOVER`. */
  prefix: string
  /** Name of the transaction log table (only used on the log shard). */
  logTable: string
  /** Driver connection settings, already normalised (a URL is parsed before it gets here). */
  connection: Record<string, unknown>
  pool: { min?: number; max?: number }
  /** How long a transaction waits for a pooled connection before failing. */
  acquireTimeoutMs: number
  /** Bound on opening one driver connection (TCP connect and login). */
  connectTimeoutMs: number
  /** Idle time before TCP keepalive probes start on each connection. */
  keepAliveDelayMs: number
  /** Bounds on the autocommit statements of the log and of recovery (`decisionMs`, `recoveryMs`). */
  timeouts: { decisionMs: number; recoveryMs: number }
  /** Where knex's own warnings go. */
  logger: Logger
}
