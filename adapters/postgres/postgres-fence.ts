import type { Knex } from 'knex'
import type pg from 'pg'
import { findCause, StaleTopologyError } from '../../src/errors.js'
import { MissingFenceTableError } from '../../src/topology/missing-fence-table.js'
import type { Participant } from '../../src/protocol/participant.js'
import { FenceRows } from '../../src/topology/fence-rows.js'
import type { EpochFence, FenceBlocked, FenceRow, HeldFence } from '../../src/topology/epoch-fence.js'
import { sqlState } from './postgres-errors.js'
import { identifier, literal } from './postgres-sql.js'
import type { ControlStatement } from './pipelined-begin.js'
import { BoundedSession } from '../shared/own-connection.js'

const STALE_MARKER = 'shardtx-stale-epoch:'
const INVALID_TEXT_REPRESENTATION = '22P02'
const UNDEFINED_TABLE = '42P01'
const LOCK_NOT_AVAILABLE = '55P03'

/**
 * The fence of a branch, after BEGIN and before the caller's first statement, in
 * the same round trip. `ROW SHARE` is a fast-path relation lock: no WAL (a
 * `FOR SHARE` row lock would write the tuple's xmax on every transaction), kept by
 * a prepared transaction until `COMMIT PREPARED`. Taken before any query, it also
 * holds under REPEATABLE READ and SERIALIZABLE: the snapshot is taken by the check
 * after the wait, so it reads the epoch an epoch change committed. The check fails
 * the statement, so the caller's statement never runs under a stale epoch; the
 * failing cast carries the shard's epoch into the error text (PostgreSQL has no
 * conditional RAISE outside a function, and a function would need DDL per shard).
 * The branch is refused when the shard's epoch is newer than the branch's (or the
 * shard has no fence row): a shard's epoch is that of the last change of what it
 * owns, so a process routing by that epoch or a later one routes to it exactly the
 * keys it owns now (docs/resharding.md, "The fence rule").
 * NOWAIT: while an epoch change holds or waits for the fence, a branch fails at
 * once (55P03, a retryable ConflictError) instead of queueing. A branch that waited
 * here while holding another shard's fence would close a cycle with the epoch
 * change, which takes the fences one after another.
 * The check is a named statement, parsed and planned once per connection with the
 * shard id and epoch as parameters: the same SQL at the same place of the pipeline,
 * without the parse and plan that were most of the fence's cost on the server
 * (bench/fence-statements.ts); its Bind, which takes the snapshot, still comes after
 * the LOCK has run. The LOCK stays unnamed: naming it saved nothing measurable, and
 * unnamed it takes no snapshot without resting on how the plan cache re-validates a
 * named statement. `sql` is the check with its values written in, for the simple
 * protocol (a first statement without bindings).
 */
export function fenceStatements(table: string, shardId: string, epoch: number): ControlStatement[] {
  const quoted = identifier(table)
  const lock = `LOCK TABLE ${quoted} IN ROW SHARE MODE NOWAIT`
  const check = (shard: string, routed: string, next: string): string =>
    `SELECT CAST(${literal(STALE_MARKER)} || coalesce(max(epoch)::text, '0') AS integer) FROM ${quoted} ` +
    `WHERE shard_id = ${shard} HAVING coalesce(max(epoch), ${next}) > ${routed}`
  const routed = Math.trunc(epoch)
  return [
    lock,
    {
      name: 'shardtx_fence_check',
      text: check('$1', '$2::integer', '$2::integer + 1'),
      values: [shardId, String(routed)],
      sql: check(literal(shardId), String(routed), String(routed + 1)),
    },
  ]
}

/** The typed error for a failed fence check, or `error` itself. */
export function fenceError(error: unknown, table: string, shardId: string, epoch: number | undefined): unknown {
  if (epoch === undefined) return error
  const code = sqlState(error)
  const message = error instanceof Error ? error.message : ''
  if (code === INVALID_TEXT_REPRESENTATION && message.includes(STALE_MARKER)) {
    const shardEpoch = Number(/shardtx-stale-epoch:(\d+)/.exec(message)?.[1] ?? 0)
    return new StaleTopologyError(shardId, epoch, shardEpoch)
  }
  // No fence table (the shard was down when migrate() ran): it holds no epoch, so it refuses
  // the branch like a shard at epoch 0; the reload that follows creates the table (docs/topology.md).
  if (code === UNDEFINED_TABLE && message.includes(table)) return new StaleTopologyError(shardId, epoch, 0)
  return error
}

function missingFence(shardId: string, table: string): MissingFenceTableError {
  return new MissingFenceTableError(shardId, table)
}

type Connection = pg.Client

/**
 * A PostgreSQL shard's fence as an epoch change uses it. Every statement it sends
 * outside a branch is bounded by `statementMs` (the wait for the lock by the lock
 * wait on top): one that misses closes its connection, which also ends the hold.
 */
export class PostgresEpochFence implements EpochFence {
  readonly shardId: string
  readonly #participant: Participant
  readonly #table: string
  readonly #statementMs: number
  readonly #rows: FenceRows

  constructor(participant: Participant, table: string, statementMs: number) {
    const shardId = participant.shardId
    this.#participant = participant
    this.#table = table
    this.#statementMs = statementMs
    this.shardId = shardId
    this.#rows = new FenceRows(participant, table, shardId, statementMs, (error) => (sqlState(error) === UNDEFINED_TABLE ? missingFence(shardId, table) : error))
  }

  read(): Promise<FenceRow | undefined> {
    return this.#rows.read()
  }

  bootstrap(epoch: number, logShardId: string): Promise<FenceRow> {
    return this.#rows.bootstrap(epoch, logShardId)
  }

  async lock(waitMs: number): Promise<HeldFence | FenceBlocked> {
    const session = await BoundedSession.open<Connection>(this.#participant, this.#statementMs)
    const send = (what: string, sql: string, ms?: number): Promise<unknown> => session.run(what, (conn) => conn.query(sql), ms)
    const quoted = identifier(this.#table)
    try {
      // EXCLUSIVE conflicts with ROW SHARE only (and stronger): reads outside branches go on.
      // lock_timeout bounds the wait, during which new branches queue behind it.
      const wait = Math.max(1, Math.round(waitMs))
      await send('locking the fence', `BEGIN; SET LOCAL lock_timeout = ${wait}; LOCK TABLE ${quoted} IN EXCLUSIVE MODE`, wait + this.#statementMs)
    } catch (error) {
      await send('rolling back the fence lock', 'ROLLBACK').catch(() => {})
      session.release()
      if (sqlState(error) === LOCK_NOT_AVAILABLE) return { blockers: await this.#blockers() }
      if (sqlState(error) === UNDEFINED_TABLE) throw missingFence(this.shardId, this.#table)
      throw error
    }
    const finish = async (what: string, sql: string): Promise<void> => {
      try {
        await send(what, sql)
      } finally {
        session.release()
      }
    }
    return {
      commit: (epoch, logShardId) =>
        finish(
          'raising the fence',
          `INSERT INTO ${quoted} (shard_id, epoch, log_shard) VALUES (${literal(this.shardId)}, ${Math.trunc(epoch)}, ${literal(logShardId)}) ` +
            `ON CONFLICT (shard_id) DO UPDATE SET epoch = EXCLUDED.epoch, log_shard = EXCLUDED.log_shard WHERE ${quoted}.epoch < EXCLUDED.epoch; COMMIT`,
        ),
      release: () => finish('releasing the fence', 'ROLLBACK'),
    }
  }

  async holdInBranch(branch: Knex, waitMs: number, statementMs: number): Promise<FenceBlocked | undefined> {
    try {
      await branch.raw(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(waitMs))}`)
      await branch.raw(`LOCK TABLE ${identifier(this.#table)} IN EXCLUSIVE MODE`)
    } catch (error) {
      if (findCause(error, (e) => sqlState(e) === LOCK_NOT_AVAILABLE) !== undefined) return { blockers: await this.#blockers().catch(() => []) }
      throw error
    }
    await branch.raw(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(statementMs))}`)
    return undefined
  }

  async raiseInBranch(branch: Knex, epoch: number, logShardId: string): Promise<void> {
    const quoted = identifier(this.#table)
    await branch.raw(
      `INSERT INTO ${quoted} (shard_id, epoch, log_shard) VALUES (${literal(this.shardId)}, ${Math.trunc(epoch)}, ${literal(logShardId)}) ` +
        `ON CONFLICT (shard_id) DO UPDATE SET epoch = EXCLUDED.epoch, log_shard = EXCLUDED.log_shard WHERE ${quoted}.epoch < EXCLUDED.epoch`,
    )
  }

  /** Who holds the fence: sessions by pid and statement, prepared transactions by gid (in-doubt ones need recovery). */
  async #blockers(): Promise<string[]> {
    const knex = this.#participant.knex
    const sql = `SELECT l.pid, p.gid, a.state, a.query FROM pg_locks l
       LEFT JOIN pg_locks x ON l.pid IS NULL AND x.locktype = 'transactionid' AND x.virtualtransaction = l.virtualtransaction
       LEFT JOIN pg_prepared_xacts p ON p.transaction = x.transactionid
       LEFT JOIN pg_stat_activity a ON a.pid = l.pid
       WHERE l.locktype = 'relation' AND l.relation = ?::regclass AND l.granted AND l.mode = 'RowShareLock'`
    const result = await this.#participant.onOwnConnection('reading who holds the fence', this.#statementMs, (conn) =>
      knex.raw<{ rows: { pid: number | null; gid: string | null; state: string | null; query: string | null }[] }>(sql, [identifier(this.#table)]).connection(conn),
    )
    return result.rows.map((r) =>
      r.gid !== null
        ? `shard ${this.shardId}: prepared transaction ${r.gid} (in doubt until its coordinator or recovery finishes it)`
        : `shard ${this.shardId}: session pid ${r.pid ?? '?'} (${r.state ?? 'unknown state'}: ${(r.query ?? '').slice(0, 120)})`,
    )
  }
}
