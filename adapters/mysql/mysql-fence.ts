import type { Knex } from 'knex'
import type { Connection as Mysql2Connection } from 'mysql2'
import { findCause, StaleTopologyError } from '../../src/errors.js'
import { MissingFenceTableError } from '../../src/topology/missing-fence-table.js'
import type { Participant, PreparedBranch } from '../../src/protocol/participant.js'
import { asUnavailable } from '../../src/shard-unavailable.js'
import { FenceRows } from '../../src/topology/fence-rows.js'
import type { EpochFence, FenceBlocked, FenceRow, HeldFence } from '../../src/topology/epoch-fence.js'
import { errno } from './mysql-errors.js'
import { innodbWaitRowsInWindow, innodbWaits } from './mysql-innodb-waits.js'
import { BoundedSession } from '../shared/own-connection.js'

const ER_NO_SUCH_TABLE = 1146
const ER_QUERY_INTERRUPTED = 1317
const ER_LOCK_WAIT_TIMEOUT = 1205
/** How often an epoch change looks again for prepared branches while it holds the fence. */
const DRAIN_POLL_MS = 2

function quote(table: string): string {
  return '`' + table.replace(/`/g, '``') + '`'
}

function text(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`
}

/**
 * The fence of a branch: a locking read of the shard's row right after `XA START`,
 * in the same multi-statement round trip. `LOCK IN SHARE MODE` is a locking read
 * under every isolation level (it reads the latest committed row, not the
 * snapshot), and its shared lock blocks an epoch change until the branch ends or
 * reaches `XA PREPARE` (MariaDB then releases it, MDEV-26682; see
 * docs/topology.md for what the epoch change does about that window).
 * While an epoch change or a resharding step holds or waits for the fence:
 * - a transaction's first branch (`firstBranch`) waits in InnoDB's queue (`WAIT 1`)
 *   and reads the fence once the hold ends, instead of failing and retrying into the
 *   same hold again and again. It holds no other fence, so it cannot close a wait
 *   cycle with a change. MariaDB counts the wait in whole seconds (`WAIT 0.3` acts as
 *   NOWAIT, measured), so one second is its bound; past it, 1205;
 * - any later branch fails at once (`NOWAIT`, 1205): queued while holding another
 *   shard's fence, it would close a cycle with a change that takes fences one after
 *   another (docs/topology.md).
 * 1205 is a retryable ConflictError either way.
 */
export function fenceStatement(table: string, shardId: string, firstBranch: boolean): string {
  return `SELECT epoch FROM ${quote(table)} WHERE shard_id = ${text(shardId)} LOCK IN SHARE MODE ${firstBranch ? 'WAIT 1' : 'NOWAIT'}`
}

/**
 * The epoch the fence statement read (0 without a row) when it refuses the branch:
 * no row, or an epoch newer than the branch's (see postgres-fence.ts); on a refusal the caller's statement already ran, so the branch is
 * ended (`XA END`) before the error is thrown: an ended branch takes no more
 * statements and its PREPARE or one-phase COMMIT fails, so nothing it wrote can commit.
 */
export function staleEpochOf(rows: unknown, routedEpoch: number): number | undefined {
  const row = (rows as { epoch?: unknown }[] | undefined)?.[0]
  if (row === undefined) return 0
  const shardEpoch = Number(row.epoch)
  // Newer than the branch's: the shard's ownership changed after the epoch the branch routes by.
  return shardEpoch > routedEpoch ? shardEpoch : undefined
}

export function staleError(shardId: string, routedEpoch: number, shardEpoch: number): StaleTopologyError {
  return new StaleTopologyError(shardId, routedEpoch, shardEpoch)
}

/** The fence table is missing on this shard: a ConfigError saying what to run; else `error` itself. */
export function fenceTableError(error: unknown, table: string, shardId: string): unknown {
  if (errno(error) === ER_NO_SUCH_TABLE && error instanceof Error && error.message.includes(table)) return missingFence(shardId, table)
  return error
}

function missingFence(shardId: string, table: string): MissingFenceTableError {
  return new MissingFenceTableError(shardId, table)
}

/** A branch's fence read found no fence table: refused like a shard at epoch 0 (see postgres-fence.ts). */
export function branchFenceError(error: unknown, table: string, shardId: string, epoch: number | undefined): unknown {
  const mapped = fenceTableError(error, table, shardId)
  return mapped instanceof MissingFenceTableError && epoch !== undefined ? new StaleTopologyError(shardId, epoch, 0) : mapped
}

type Connection = Mysql2Connection

function run<T = unknown>(conn: Connection, sql: string, values: unknown[] = []): Promise<T> {
  return new Promise((resolve, reject) => {
    conn.query(sql, values, (error, rows) => (error ? reject(error) : resolve(rows as T)))
  })
}

/**
 * A MySQL-protocol shard's fence as an epoch change uses it. The exclusive read
 * waits in InnoDB's queue (so the branches that hold the fence cannot starve it)
 * and is cancelled with KILL QUERY once `waitMs` has passed: innodb_lock_wait_timeout
 * counts whole seconds, which would stall every new branch on the shard for as long.
 */
export class MysqlEpochFence implements EpochFence {
  readonly shardId: string
  readonly #participant: Participant
  readonly #table: string
  /** Bounds every statement sent outside a branch (the wait for the lock by the lock wait on top). */
  readonly #statementMs: number
  readonly #rows: FenceRows

  constructor(participant: Participant, table: string, statementMs: number) {
    const shardId = participant.shardId
    this.#participant = participant
    this.#table = table
    this.#statementMs = statementMs
    this.shardId = shardId
    this.#rows = new FenceRows(participant, table, shardId, statementMs, (error) => fenceTableError(error, table, shardId))
  }

  read(): Promise<FenceRow | undefined> {
    return this.#rows.read()
  }

  bootstrap(epoch: number, logShardId: string): Promise<FenceRow> {
    return this.#rows.bootstrap(epoch, logShardId)
  }

  async lock(waitMs: number): Promise<HeldFence | FenceBlocked> {
    this.#lastBlockers = []
    const deadline = performance.now() + waitMs
    const session = await BoundedSession.open<Connection>(this.#participant, this.#statementMs)
    const conn = session.conn
    const done = async (what: string, sql: string): Promise<void> => {
      try {
        await session.run(what, (c) => run(c, sql))
      } finally {
        session.release()
      }
    }
    const rollBack = (): Promise<void> => done('releasing the fence', 'ROLLBACK').catch(() => {})
    const blockedBy = async (blockers: string[]): Promise<FenceBlocked> => {
      await rollBack()
      return { blockers }
    }
    try {
      await session.run('beginning the fence lock', (c) => run(c, 'SET SESSION innodb_lock_wait_timeout = 1; BEGIN'))
      // Cancelled at waitMs (after noting who blocks it); bounded on top in case the cancel cannot reach the shard.
      const locked = session.run('locking the fence', (c) => this.#lockRow(c), waitMs + this.#statementMs)
      const timer = setTimeout(() => void this.#cancelAfterLooking(conn), waitMs)
      const outcome = await locked.finally(() => clearTimeout(timer))
      if (outcome !== 'locked') return await blockedBy(this.#lastBlockers.length > 0 ? this.#lastBlockers : [`shard ${this.shardId}: a branch held the fence past ${waitMs} ms`])
    } catch (error) {
      await rollBack()
      throw fenceTableError(error, this.#table, this.shardId)
    }
    // No branch passes the fence now; those that passed it before and reached XA PREPARE
    // no longer hold it, but may still commit: wait until none of ours is left prepared.
    for (;;) {
      const prepared = await this.#listPrepared().catch(async (error: unknown) => {
        await rollBack()
        throw error
      })
      if (prepared.length === 0) break
      if (performance.now() >= deadline) {
        return blockedBy(prepared.map((b) => heldByPrepared(this.shardId, b.txId)))
      }
      await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS))
    }
    const quoted = quote(this.#table)
    return {
      commit: (epoch, logShardId) =>
        done(
          'raising the fence',
          `INSERT INTO ${quoted} (shard_id, epoch, log_shard) VALUES (${text(this.shardId)}, ${Math.trunc(epoch)}, ${text(logShardId)}) ` +
            // log_shard first: MySQL assigns left to right, so epoch must still be the old one there.
            'ON DUPLICATE KEY UPDATE log_shard = IF(epoch < VALUES(epoch), VALUES(log_shard), log_shard), epoch = GREATEST(epoch, VALUES(epoch)); COMMIT',
        ),
      release: () => done('releasing the fence', 'ROLLBACK'),
    }
  }

  async holdInBranch(branch: Knex, waitMs: number): Promise<FenceBlocked | undefined> {
    const deadline = performance.now() + waitMs
    let thread: number
    try {
      const [[session]] = (await branch.raw('SELECT CONNECTION_ID() AS id')) as [[{ id: number }]]
      thread = Number(session.id)
    } catch (error) {
      // The branch's first statement carries its own fence read, which waited for the fence
      // (a first branch waits 1 s) and gave up: held. Name the holders that can be named,
      // not this lookup (a step of a killed mover leaves prepared branches holding it).
      if (findCause(error, (e) => errno(e) === ER_LOCK_WAIT_TIMEOUT) === undefined) throw error
      const prepared = await this.#listPrepared().catch(() => [])
      return {
        blockers:
          prepared.length > 0
            ? prepared.map((b) => heldByPrepared(this.shardId, b.txId))
            : [`shard ${this.shardId}: another session held the fence past the branch's first wait for it`],
      }
    }
    let blockers: string[] = []
    let locked = false
    // As in lock(): wait in InnoDB's queue, cancelled with KILL QUERY at the bound. The
    // kill is awaited before the branch sends anything else, so it cannot hit a later statement.
    let cancelling: Promise<void> | undefined
    const timer = setTimeout(() => {
      if (locked) return
      cancelling = this.#blockersOf(thread).then(async (found) => {
        blockers = found
        if (!locked) await this.#killQuery(thread)
      })
    }, waitMs)
    try {
      await branch.raw(`SELECT epoch FROM ${quote(this.#table)} WHERE shard_id = ? FOR UPDATE`, [this.shardId])
      locked = true
    } catch (error) {
      if (findCause(error, (e) => errno(e) === ER_QUERY_INTERRUPTED || errno(e) === ER_LOCK_WAIT_TIMEOUT) !== undefined) {
        await cancelling
        return { blockers: blockers.length > 0 ? blockers : [`shard ${this.shardId}: a branch held the fence past ${waitMs} ms`] }
      }
      throw error
    } finally {
      clearTimeout(timer)
    }
    await cancelling
    for (;;) {
      const prepared = await this.#listPrepared()
      if (prepared.length === 0) return undefined
      if (performance.now() >= deadline) {
        return {
          blockers: prepared.map((b) => heldByPrepared(this.shardId, b.txId)),
        }
      }
      await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS))
    }
  }

  async raiseInBranch(branch: Knex, epoch: number, logShardId: string): Promise<void> {
    await branch.raw(
      `INSERT INTO ${quote(this.#table)} (shard_id, epoch, log_shard) VALUES (${text(this.shardId)}, ${Math.trunc(epoch)}, ${text(logShardId)}) ` +
        'ON DUPLICATE KEY UPDATE log_shard = IF(epoch < VALUES(epoch), VALUES(log_shard), log_shard), epoch = GREATEST(epoch, VALUES(epoch))',
    )
  }

  /**
   * The sessions InnoDB says the waiting `thread` waits for. A holder with only
   * shared locks (a branch that has read the fence and not written) has no trx_id,
   * so it is named only when it is the one such session; else the text says so.
   */
  async #blockersOf(thread: number): Promise<string[]> {
    try {
      const knex = this.#participant.knex
      const rows = await innodbWaitRowsInWindow((sql) =>
        this.#participant.onOwnConnection('reading who holds the fence', this.#statementMs, (conn) => knex.raw(sql).connection(conn)),
      )
      return innodbWaits(rows)
        .filter((wait) => wait.waiter.thread === String(thread))
        .map(({ blocker, candidates }) =>
          blocker === undefined
            ? `shard ${this.shardId}: a session with only shared locks, which InnoDB shows without a transaction id (one of ${candidates} such sessions)`
            : `shard ${this.shardId}: session ${blocker.thread} (${blocker.state}${blocker.query === null ? ', idle' : `: ${blocker.query.slice(0, 120)}`})`,
        )
    } catch {
      return []
    }
  }

  #lastBlockers: string[] = []

  /** Our prepared branches on the shard; a lost connection is the typed, retryable error a branch would give. */
  #listPrepared(): Promise<PreparedBranch[]> {
    return this.#participant.listPrepared().catch((error: unknown) => {
      throw asUnavailable(this.#participant, 'could not list prepared branches', error)
    })
  }

  async #lockRow(conn: Connection): Promise<'locked' | 'cancelled'> {
    try {
      await run(conn, `SELECT epoch FROM ${quote(this.#table)} WHERE shard_id = ? FOR UPDATE`, [this.shardId])
      return 'locked'
    } catch (error) {
      // Cancelled by us at the deadline, or InnoDB's own (1 s) timeout: either way, not now.
      if (errno(error) === ER_QUERY_INTERRUPTED || errno(error) === ER_LOCK_WAIT_TIMEOUT) return 'cancelled'
      throw error
    }
  }

  /** Notes who holds the fence (InnoDB shows it while we wait), then cancels the wait. */
  async #cancelAfterLooking(conn: Connection): Promise<void> {
    const thread = (conn as unknown as { threadId: number }).threadId
    this.#lastBlockers = await this.#blockersOf(thread)
    await this.#killQuery(thread)
  }

  /** Ends the statement running in session `thread` (from a connection of its own, bounded); a failure is left to the caller's own bound. */
  async #killQuery(thread: number): Promise<void> {
    const knex = this.#participant.knex
    await this.#participant
      .onOwnConnection('cancelling the fence lock', this.#statementMs, (conn) => knex.raw(`KILL QUERY ${Math.trunc(thread)}`).connection(conn))
      .catch(() => {})
  }
}

/** A prepared branch of ours, as a holder of the fence in a report of who blocks. */
function heldByPrepared(shardId: string, txId: string): string {
  return `shard ${shardId}: prepared branch of transaction ${txId} (in doubt until its coordinator or recovery finishes it)`
}
