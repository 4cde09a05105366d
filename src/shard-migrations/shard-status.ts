import type { Knex } from 'knex'
import type { Dialect } from '../config/shard-config.js'
import type { Participant } from '../protocol/participant.js'
import { ShardUnavailableError } from '../errors.js'
import { describeShardError } from '../shard-error-text.js'
import { withBoundedKnex } from '../protocol/with-bounded-knex.js'

/**
 * One shard's health, as `cluster.status()` reports it. Nothing is changed on
 * the shard to find out.
 *
 * ```ts
 * for (const s of await cluster.status()) {
 *   console.log(s.shardId, s.reachable, s.serverVersion, s.twoPhaseReady, s.inDoubt, s.problems)
 * }
 * ```
 */
export interface ShardStatus {
  shardId: string
  dialect: Dialect
  /** The server answered a query. */
  reachable: boolean
  /** The server's own `version()` text, e.g. `PostgreSQL 15.18 on …` or `10.11.6-MariaDB-…`. */
  serverVersion: string | undefined
  /**
   * The server can take part in two-phase commit: the adapter's own check passed
   * (PostgreSQL: `max_prepared_transactions` above 0) and our prepared branches
   * could be listed (`pg_prepared_xacts`, `XA RECOVER`). Undefined when unreachable.
   */
  twoPhaseReady: boolean | undefined
  /** How many prepared branches of ours the shard holds; undefined when they could not be listed. */
  inDoubt: number | undefined
  /** This shard holds the transaction log table. */
  logShard: boolean
  /** Log shard only: the log table exists (`cluster.migrate()` made it); undefined elsewhere or unknown. */
  logTable: boolean | undefined
  /** What is wrong, in words (never a connection string). Empty when healthy. */
  problems: string[]
}

type Probed = Pick<Participant, 'shardId' | 'dialect' | 'boundedKnex' | 'verify' | 'listPrepared'>

/**
 * Checks every shard in parallel; a shard that fails a check is reported, not thrown.
 * Each statement is bounded by `statementMs`: a shard that stopped answering is
 * reported unreachable rather than holding the call.
 */
export function probeShards(participants: readonly Probed[], logShardId: string, logTable: string, statementMs: number): Promise<ShardStatus[]> {
  return Promise.all(
    participants.map((p) => withBoundedKnex(p, statementMs, (knex) => probeShard(p, knex, p.shardId === logShardId ? logTable : undefined))),
  )
}

async function probeShard(participant: Probed, knex: Knex, logTable: string | undefined): Promise<ShardStatus> {
  const { shardId, dialect } = participant
  const status: ShardStatus = {
    shardId,
    dialect,
    reachable: false,
    serverVersion: undefined,
    twoPhaseReady: undefined,
    inDoubt: undefined,
    logShard: logTable !== undefined,
    logTable: undefined,
    problems: [],
  }
  try {
    // `version()` answers on both PostgreSQL and MySQL/MariaDB: no dialect SQL needed here.
    const row = (await knex.select(knex.raw('version() as server_version')).first()) as { server_version: unknown }
    status.serverVersion = String(row.server_version)
    status.reachable = true
  } catch (error) {
    // The driver's reason, not the wrapper that names the shard the report already names.
    const reason = error instanceof ShardUnavailableError && error.cause !== undefined ? error.cause : error
    status.problems.push(`unreachable: ${describeShardError(reason)}`)
    return status
  }
  const [verified, prepared, table] = await Promise.allSettled([
    participant.verify(),
    participant.listPrepared(),
    logTable === undefined ? Promise.resolve(undefined) : knex.schema.hasTable(logTable),
  ])
  status.twoPhaseReady = verified.status === 'fulfilled' && prepared.status === 'fulfilled'
  if (verified.status === 'rejected') status.problems.push(`not ready for two-phase commit: ${describeShardError(verified.reason)}`)
  if (prepared.status === 'fulfilled') {
    status.inDoubt = prepared.value.length
    if (prepared.value.length > 0) status.problems.push(`${prepared.value.length} in-doubt branch(es)`)
  } else {
    status.problems.push(`cannot list prepared branches: ${describeShardError(prepared.reason)}`)
  }
  if (table.status === 'fulfilled') {
    status.logTable = table.value
    if (table.value === false) status.problems.push(`log table ${logTable} is missing (run migrate)`)
  } else if (logTable !== undefined) {
    status.problems.push(`cannot check log table ${logTable}: ${describeShardError(table.reason)}`)
  }
  return status
}

