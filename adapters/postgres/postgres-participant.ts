import knexFactory, { type Knex } from 'knex'
import type pg from 'pg'
import { ConfigError, ShardTxError } from '../../src/errors.js'
import type { BranchId } from '../../src/ids/branch-id.js'
import { parseBranchGid } from '../../src/ids/branch-id.js'
import type {
  BranchOptions,
  ConflictInfo,
  Decision,
  DecisionRecord,
  DriverConnection,
  FinishResult,
  KnexQuery,
  Participant,
  PreparedBranch,
} from '../../src/participant.js'
import { deleteAbortsBefore, deleteLogRecords, type FenceRequest, fenceInChunks, readLogRecords } from '../log-row.js'
import { knexLogOf } from '../knex-log.js'
import { boundEveryStatement, closeConnectionsWithin, destroyWithin } from '../bounded-knex.js'
import { disposeIdle, onOwnConnection } from '../own-connection.js'
import type { ParticipantSettings } from '../participant-settings.js'
import {
  classifyPostgresConflict,
  isPostgresConnectionError,
  OBJECT_NOT_IN_PREREQUISITE_STATE,
  sqlState,
  UNDEFINED_OBJECT,
  UNIQUE_VIOLATION,
} from './postgres-errors.js'
import { runWithBegin } from './pipelined-begin.js'
import { beginStatements, identifier, insertDecisionAndCommit, literal } from './postgres-sql.js'

type Connection = pg.Client & { __knex__disposed?: unknown; processID?: number; connection?: { stream?: { destroy(): void } } }

/** Closes the socket under a client at once; the client then fails whatever it was waiting for. */
function destroySocket(conn: Connection): void {
  conn.connection?.stream?.destroy()
}

const DISCARDED = 'discarded by shardtx'

/**
 * A PostgreSQL shard: branches are plain transactions made durable with
 * `PREPARE TRANSACTION` and finished with `COMMIT PREPARED` from any session.
 */
export class PostgresParticipant implements Participant {
  readonly dialect = 'postgres' as const
  readonly shardId: string
  readonly knex: Knex
  readonly #prefix: string
  readonly #table: string
  readonly #quotedTable: string
  readonly #timeouts: ParticipantSettings['timeouts']
  #verified: Promise<void> | undefined

  constructor(settings: ParticipantSettings) {
    this.shardId = settings.shardId
    this.#prefix = settings.prefix
    this.#table = settings.logTable
    this.#quotedTable = identifier(settings.logTable)
    this.#timeouts = settings.timeouts
    this.knex = knexFactory({
      client: 'pg',
      // The shard's own driverOptions come last, so a user can still override these.
      connection: {
        keepAlive: true,
        keepAliveInitialDelayMillis: settings.keepAliveDelayMs,
        connectionTimeoutMillis: settings.connectTimeoutMs,
        ...settings.connection,
      },
      pool: { min: 0, ...settings.pool },
      acquireConnectionTimeout: settings.acquireTimeoutMs,
      log: knexLogOf(settings.logger, settings.shardId),
    })
    closeConnectionsWithin(this.knex, destroySocket)
  }

  verify(): Promise<void> {
    this.#verified ??= this.#checkPreparedTransactions().catch((error) => {
      this.#verified = undefined
      throw error
    })
    return this.#verified
  }

  async #checkPreparedTransactions(): Promise<void> {
    const result = await this.#own('SHOW max_prepared_transactions', this.#timeouts.recoveryMs, (conn) =>
      this.knex.raw<{ rows: { max_prepared_transactions: string }[] }>('SHOW max_prepared_transactions').connection(conn),
    )
    // PREPARE fails with 55000 when this is 0, which is PostgreSQL's default.
    if (Number(result.rows[0]?.max_prepared_transactions ?? 0) <= 0) {
      throw new ConfigError(
        `shards[${this.shardId}]`,
        'PostgreSQL has max_prepared_transactions = 0, so it cannot prepare transactions; set it above 0 (e.g. 100) in postgresql.conf and restart the server',
      )
    }
  }

  async acquire(): Promise<DriverConnection> {
    return (await this.knex.client.acquireConnection()) as Connection
  }

  async begin(conn: DriverConnection, _branch: BranchId, options: BranchOptions): Promise<void> {
    await (conn as Connection).query(beginStatements(options.isolationLevel, options.lockTimeoutMs).join('; '))
  }

  beginWith(conn: DriverConnection, _branch: BranchId, options: BranchOptions, query: KnexQuery): Promise<unknown> {
    return runWithBegin(conn as Connection, beginStatements(options.isolationLevel, options.lockTimeoutMs), query)
  }

  async prepare(conn: DriverConnection, branch: BranchId): Promise<void> {
    const result = await (conn as Connection).query(`PREPARE TRANSACTION ${literal(branch.gid)}`)
    // In a failed transaction PREPARE raises nothing: the server rolls back and the tag says ROLLBACK.
    if (result.command !== 'PREPARE') throw this.#rolledBack('PREPARE TRANSACTION', result.command)
  }

  async commitPrepared(conn: DriverConnection, branch: BranchId): Promise<void> {
    await (conn as Connection).query(`COMMIT PREPARED ${literal(branch.gid)}`)
  }

  async commitOnePhase(conn: DriverConnection): Promise<void> {
    const result = await (conn as Connection).query('COMMIT')
    // COMMIT of a failed transaction also answers with the tag ROLLBACK rather than an error.
    if (result.command !== 'COMMIT') throw this.#rolledBack('COMMIT', result.command)
  }

  async commitWithDecision(
    conn: DriverConnection,
    _branch: BranchId,
    record: DecisionRecord,
  ): Promise<'committed' | 'conflict'> {
    let results: pg.QueryResult[]
    try {
      results = (await (conn as Connection).query(insertDecisionAndCommit(this.#table, record))) as unknown as pg.QueryResult[]
    } catch (error) {
      if (sqlState(error) !== UNIQUE_VIOLATION) throw error
      // A recoverer's abort record holds the key: the transaction is fenced.
      await (conn as Connection).query('ROLLBACK')
      return 'conflict'
    }
    const last = results[results.length - 1]
    if (last?.command !== 'COMMIT') throw this.#rolledBack('COMMIT', last?.command)
    return 'committed'
  }

  async finishReadOnly(conn: DriverConnection): Promise<void> {
    await (conn as Connection).query('COMMIT')
  }

  async rollback(conn: DriverConnection, branch: BranchId, prepared: boolean): Promise<void> {
    await (conn as Connection).query(prepared ? `ROLLBACK PREPARED ${literal(branch.gid)}` : 'ROLLBACK')
  }

  release(conn: DriverConnection): void {
    void this.knex.client.releaseConnection(conn)
  }

  discard(conn: DriverConnection, why?: 'unresponsive'): void {
    const connection = conn as Connection
    if (connection.__knex__disposed === DISCARDED) return
    // Marked disposed, knex's pool drops it on the next validation instead of reusing it.
    connection.__knex__disposed = DISCARDED
    // Not end(): it waits for the server's goodbye, which a black-holed path never sends.
    // With the socket gone, the pending query rejects and the server rolls back what is not prepared.
    destroySocket(connection)
    void this.knex.client.releaseConnection(conn)
    if (why === 'unresponsive') disposeIdle(this.knex, `shard ${this.shardId} stopped answering on another connection`)
  }

  boundedKnex(statementMs: number): Knex {
    // The shard's own settings, on a small pool of its own that the caller destroys when done.
    const knex = knexFactory({ ...this.knex.client.config, pool: { min: 0, max: 2 } })
    closeConnectionsWithin(knex, destroySocket)
    return boundEveryStatement(knex, this.shardId, statementMs, destroySocket)
  }

  async cancel(conn: DriverConnection): Promise<void> {
    await this.knex.client.cancelQuery(conn)
  }

  async listPrepared(): Promise<PreparedBranch[]> {
    const result = await this.#own('listing prepared transactions', this.#timeouts.recoveryMs, (conn) =>
      this.knex
        .raw<{ rows: { gid: string; prepared: Date }[] }>(
          `SELECT gid, prepared FROM pg_prepared_xacts WHERE database = current_database() AND starts_with(gid, ?)`,
          [this.#prefix],
        )
        .connection(conn),
    )
    const found: PreparedBranch[] = []
    for (const row of result.rows) {
      const parsed = parseBranchGid(this.#prefix, row.gid)
      // Shards may share a cluster and a database: only our own shard's branches are ours to finish.
      if (parsed === undefined || parsed.shardId !== this.shardId) continue
      found.push({ txId: parsed.txId, shardId: parsed.shardId, preparedAt: row.prepared.getTime() })
    }
    return found
  }

  async finishPrepared(branch: BranchId, outcome: Decision): Promise<FinishResult> {
    const verb = outcome === 'commit' ? 'COMMIT' : 'ROLLBACK'
    try {
      const sql = `${verb} PREPARED ${literal(branch.gid)}`
      await this.#own(`${verb} PREPARED`, this.#timeouts.recoveryMs, (conn) => this.knex.raw(sql).connection(conn))
      return 'done'
    } catch (error) {
      const code = sqlState(error)
      if (code === UNDEFINED_OBJECT) return 'not-found'
      if (code === OBJECT_NOT_IN_PREREQUISITE_STATE) return 'busy'
      throw error
    }
  }

  async insertDecision(record: DecisionRecord): Promise<'inserted' | 'conflict'> {
    try {
      await this.#own('the decision insert', this.#timeouts.decisionMs, (conn) =>
        this.knex
          .raw(`INSERT INTO ${this.#quotedTable} (tx_id, decision, participants, created_at) VALUES (?, ?, ?, ?)`, [
            record.txId,
            record.decision,
            record.participants.join(','),
            record.createdAt,
          ])
          .connection(conn),
      )
      return 'inserted'
    } catch (error) {
      if (sqlState(error) === UNIQUE_VIOLATION) return 'conflict'
      throw error
    }
  }

  fenceAbort(requests: FenceRequest[], createdAt: number): Promise<Map<string, Decision>> {
    return fenceInChunks(requests, (chunk) => this.#own('the fence', this.#timeouts.decisionMs, async (conn) => {
      const decided = new Map<string, Decision>()
      try {
        // The insert waits on a coordinator's uncommitted commit record with the same key,
        // then does nothing if that commits; the SELECT, a new statement, then sees it.
        const inserted = await this.knex
          .raw<{ rows: { tx_id: string }[] }>(
            `INSERT INTO ${this.#quotedTable} (tx_id, decision, participants, created_at)
             VALUES ${chunk.map(() => "(?, 'abort', ?, ?)").join(', ')}
             ON CONFLICT (tx_id) DO NOTHING RETURNING tx_id`,
            chunk.flatMap((r) => [r.txId, r.participants.join(','), createdAt]),
          )
          .connection(conn)
        for (const row of inserted.rows) decided.set(row.tx_id, 'abort')
      } catch (error) {
        // Deadlock detection or a lock timeout ended the wait: that means "ask again".
        if (classifyPostgresConflict(error) !== undefined) return decided
        throw error
      }
      const others = chunk.filter((r) => !decided.has(r.txId)).map((r) => r.txId)
      for (const record of await readLogRecords(this.knex, conn, this.#table, others, undefined)) decided.set(record.txId, record.decision)
      return decided
    }))
  }

  readDecisions(txIds?: string[], decision?: Decision): Promise<DecisionRecord[]> {
    return this.#own('reading the log', this.#timeouts.recoveryMs, (conn) => readLogRecords(this.knex, conn, this.#table, txIds, decision))
  }

  deleteDecisions(txIds: string[], decision: Decision): Promise<number> {
    return this.#own('deleting log records', this.#timeouts.recoveryMs, (conn) => deleteLogRecords(this.knex, conn, this.#table, txIds, decision))
  }

  deleteAbortsBefore(before: number): Promise<number> {
    return this.#own('deleting abort records', this.#timeouts.recoveryMs, (conn) => deleteAbortsBefore(this.knex, conn, this.#table, before))
  }

  #own<T>(what: string, ms: number, work: (conn: DriverConnection) => PromiseLike<T>): Promise<T> {
    return onOwnConnection(this, what, ms, work)
  }

  classifyConflict(error: unknown): ConflictInfo | undefined {
    return classifyPostgresConflict(error)
  }

  isConnectionError(error: unknown): boolean {
    return isPostgresConnectionError(error)
  }

  /** Closes the pool; connections still in use after the recovery bound are closed under their statements. */
  async close(): Promise<void> {
    await destroyWithin(this.knex, this.#timeouts.recoveryMs, destroySocket)
  }

  #rolledBack(statement: string, tag: string | undefined): ShardTxError {
    return new ShardTxError(
      `shard ${this.shardId}: ${statement} answered ${tag ?? 'nothing'}: the branch had failed and the server rolled it back`,
      { code: 'BRANCH_ROLLED_BACK' },
    )
  }
}
