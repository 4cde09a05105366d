import knexFactory, { type Knex } from 'knex'
import type { Dialect } from '../../src/config/shard-config.js'
import { deleteAbortsBefore, deleteLogRecords, LOG_COLUMNS, logRowValues, readLogRecords } from '../../src/protocol/log-row.js'
import type { Decision, DecisionRecord, DriverConnection } from '../../src/protocol/participant.js'
import type { ParticipantSettings } from '../participant-settings.js'
import { knexLogOf } from './knex-log.js'
import { acquireConnection, cancelQuery, discardConnection, releaseConnection } from './knex-pool.js'
import { neverSent } from './never-sent.js'

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

  constructor(settings: ParticipantSettings, driver: KnexDriver) {
    this.shardId = settings.shardId
    this.prefix = settings.prefix
    this.logTable = settings.logTable
    this.quotedLogTable = driver.quote(settings.logTable)
    this.knex = knexFactory({
      client: driver.client,
      connection: driver.connection,
      pool: { min: 0, ...settings.pool },
      acquireConnectionTimeout: settings.acquireTimeoutMs,
      log: knexLogOf(settings.logger, settings.shardId),
    })
  }

  acquire(): Promise<DriverConnection> {
    return acquireConnection(this.knex)
  }

  release(conn: DriverConnection): void {
    releaseConnection(this.knex, conn)
  }

  discard(conn: DriverConnection): void {
    discardConnection(this.knex, conn, () => this.endSession(conn))
  }

  /** Ends the driver's session on `conn` now, without waiting. */
  protected abstract endSession(conn: DriverConnection): void

  cancel(conn: DriverConnection): Promise<void> {
    return cancelQuery(this.knex, conn)
  }

  async insertDecision(record: DecisionRecord): Promise<'inserted' | 'conflict'> {
    try {
      await this.knex.raw(`INSERT INTO ${this.quotedLogTable} (${LOG_COLUMNS}) VALUES (?, ?, ?, ?)`, logRowValues(record))
      return 'inserted'
    } catch (error) {
      if (this.isDuplicateKey(error)) return 'conflict'
      throw error
    }
  }

  /** The error is a unique-key violation (a decision already holds the transaction's key). */
  protected abstract isDuplicateKey(error: unknown): boolean

  readDecisions(txIds?: string[], decision?: Decision): Promise<DecisionRecord[]> {
    return readLogRecords(this.knex, this.logTable, txIds, decision)
  }

  deleteDecisions(txIds: string[], decision: Decision): Promise<number> {
    return deleteLogRecords(this.knex, this.logTable, txIds, decision)
  }

  deleteAbortsBefore(before: number): Promise<number> {
    return deleteAbortsBefore(this.knex, this.logTable, before)
  }

  neverSent(error: unknown): boolean {
    return neverSent(error)
  }

  async close(): Promise<void> {
    await this.knex.destroy()
  }
}
