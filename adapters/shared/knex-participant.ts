import knexFactory, { type Knex } from 'knex'
import type { Dialect } from '../../src/config/shard-config.js'
import { deleteAbortsBefore, deleteLogRecords, LOG_COLUMNS, logRowValues, readLogRecords } from '../../src/protocol/log-row.js'
import type { Decision, DecisionRecord, DriverConnection } from '../../src/protocol/participant.js'
import type { ParticipantSettings } from '../participant-settings.js'
import { knexLogOf } from './knex-log.js'
import { boundEveryStatement, closeConnectionsWithin, destroyWithin } from './bounded-knex.js'
import { acquireConnection, cancelQuery, configOf, discardConnection, disposeIdleConnections, isDiscarded, mapAcquireErrors, releaseConnection, stackIdleConnections } from './knex-internals.js'
import { neverSent } from './never-sent.js'
import { couldNotConnect, runOnOwnConnection } from './own-connection.js'
import { ShardTxError } from '../../src/errors.js'

/** What a dialect's participant tells the shared part about its driver. */
export interface KnexDriver {
  /** knex's client name. */
  client: string
  /** The driver's connection settings (the dialect may add its own). */
  connection: Record<string, unknown>
  /** Quotes an identifier for raw SQL. */
  quote(name: string): string
}

/**
 * What both dialects' participants do the same way: the knex pool and its
 * connections, the log table's plain statements, and `neverSent`. A dialect
 * extends this and adds the statements that differ.
 */
export abstract class KnexParticipant {
  abstract readonly dialect: Dialect
  readonly shardId: string
  readonly knex: Knex
  /** Marks our branches in `pg_prepared_xacts` / `XA RECOVER`. */
  protected readonly prefix: string
  /** The log table's name, for knex (which quotes it). */
  protected readonly logTable: string
  /** The log table's name quoted, for raw SQL. */
  protected readonly quotedLogTable: string
  /** Bounds on the autocommit statements of the log (`decisionMs`) and of recovery (`recoveryMs`). */
  protected readonly timeouts: ParticipantSettings['timeouts']

  constructor(settings: ParticipantSettings, driver: KnexDriver) {
    this.shardId = settings.shardId
    this.prefix = settings.prefix
    this.logTable = settings.logTable
    this.quotedLogTable = driver.quote(settings.logTable)
    this.timeouts = settings.timeouts
    this.knex = knexFactory({
      client: driver.client,
      connection: driver.connection,
      pool: { min: 0, ...settings.pool },
      acquireConnectionTimeout: settings.acquireTimeoutMs,
      log: knexLogOf(settings.logger, settings.shardId),
    })
    closeConnectionsWithin(this.knex, (conn: DriverConnection) => this.endSession(conn))
    stackIdleConnections(this.knex)
  }

  acquire(): Promise<DriverConnection> {
    return acquireConnection(this.knex)
  }

  release(conn: DriverConnection): void {
    releaseConnection(this.knex, conn)
  }

  discard(conn: DriverConnection, why?: 'unresponsive'): void {
    if (isDiscarded(conn)) return
    discardConnection(this.knex, conn, () => this.endSession(conn))
    if (why === 'unresponsive') disposeIdleConnections(this.knex, `shard ${this.shardId} stopped answering on another connection`)
  }

  /**
   * Ends the driver's session on `conn` now, without waiting: its socket is destroyed.
   * Not the driver's polite goodbye, which waits for an answer a black-holed path never
   * sends; with the socket gone, a pending query fails at once.
   */
  protected abstract endSession(conn: DriverConnection): void

  abstract canSend(conn: DriverConnection): boolean
  abstract serverSessionOf(conn: DriverConnection): string | undefined
  abstract endSessionOf(session: string, ms: number): Promise<boolean>

  boundedKnex(statementMs: number): Knex {
    // The shard's own settings, on a small pool of its own that the caller destroys when done.
    const knex = knexFactory({ ...configOf(this.knex), pool: { min: 0, max: 2 } })
    closeConnectionsWithin(knex, (conn: DriverConnection) => this.endSession(conn))
    // As a branch's or onOwnConnection's: no connection is a ShardUnavailableError naming the shard.
    mapAcquireErrors(knex, (error) => (error instanceof ShardTxError ? error : couldNotConnect(this, error)))
    return boundEveryStatement(knex, this.shardId, statementMs, (conn: DriverConnection) => this.endSession(conn))
  }

  /** Runs autocommit statements on a pooled connection of their own, bounded by `ms` (see {@link runOnOwnConnection}). */
  onOwnConnection<T>(what: string, ms: number, work: (conn: DriverConnection) => PromiseLike<T>): Promise<T> {
    return runOnOwnConnection(this, what, ms, work)
  }

  cancel(conn: DriverConnection): Promise<void> {
    return cancelQuery(this.knex, conn)
  }

  async insertDecision(record: DecisionRecord): Promise<'inserted' | 'conflict'> {
    try {
      await this.onOwnConnection('the decision insert', this.timeouts.decisionMs, (conn) =>
        this.knex.raw(`INSERT INTO ${this.quotedLogTable} (${LOG_COLUMNS}) VALUES (?, ?, ?, ?)`, logRowValues(record)).connection(conn),
      )
      return 'inserted'
    } catch (error) {
      if (this.isDuplicateKey(error)) return 'conflict'
      throw error
    }
  }

  /** The error is a unique-key violation (a decision already holds the transaction's key). */
  protected abstract isDuplicateKey(error: unknown): boolean

  readDecisions(txIds?: string[], decision?: Decision): Promise<DecisionRecord[]> {
    return this.onOwnConnection('reading the log', this.timeouts.recoveryMs, (conn) => readLogRecords(this.knex, conn, this.logTable, txIds, decision))
  }

  deleteDecisions(txIds: string[], decision: Decision): Promise<number> {
    return this.onOwnConnection('deleting log records', this.timeouts.recoveryMs, (conn) => deleteLogRecords(this.knex, conn, this.logTable, txIds, decision))
  }

  deleteAbortsBefore(before: number): Promise<number> {
    return this.onOwnConnection('deleting abort records', this.timeouts.recoveryMs, (conn) => deleteAbortsBefore(this.knex, conn, this.logTable, before))
  }

  neverSent(error: unknown): boolean {
    return neverSent(error)
  }

  /** Closes the pool; connections still in use after `ms` (default: the recovery bound) are closed under their statements. */
  async close(ms = this.timeouts.recoveryMs): Promise<void> {
    await destroyWithin(this.knex, ms, (conn: DriverConnection) => this.endSession(conn))
  }
}
