import type pg from 'pg'
import { ConfigError, ShardTxError } from '../../src/errors.js'
import type { BranchId } from '../../src/protocol/ids/branch-id.js'
import { parseBranchGid } from '../../src/protocol/ids/branch-id.js'
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
} from '../../src/protocol/participant.js'
import { type FenceRequest, fenceInChunks, LOG_COLUMNS, readLogRecords } from '../../src/protocol/log-row.js'
import { KnexParticipant } from '../shared/knex-participant.js'
import { endSessionWithin } from '../shared/end-session.js'
import type { ParticipantSettings } from '../participant-settings.js'
import {
  classifyPostgresConflict,
  isPostgresConnectionError,
  OBJECT_NOT_IN_PREREQUISITE_STATE,
  sqlState,
  UNDEFINED_OBJECT,
  UNIQUE_VIOLATION,
} from './postgres-errors.js'
import { type ControlStatement, controlSql, runWithBegin } from './pipelined-begin.js'
import { labelSent, PostgresLockWaits, setLabelStatement } from './postgres-lock-waits.js'
import { fenceError, fenceStatements } from './postgres-fence.js'
import { fenceTableOf } from '../../src/topology/table-names.js'
import { beginStatements, identifier, insertDecisionAndCommit, literal } from './postgres-sql.js'

type Connection = pg.Client & {
  connection?: { stream?: { destroy(): void; destroyed?: boolean; writable?: boolean } }
  /** pg's own flags: false after a socket error or an unexpected end; true once end() was called. */
  _queryable?: boolean
  _ending?: boolean
}

/**
 * A PostgreSQL shard: branches are plain transactions made durable with
 * `PREPARE TRANSACTION` and finished with `COMMIT PREPARED` from any session.
 */
export class PostgresParticipant extends KnexParticipant implements Participant {
  readonly dialect = 'postgres' as const
  readonly lockWaits: PostgresLockWaits = new PostgresLockWaits(this)
  readonly #fenceTable: string
  #verified: Promise<void> | undefined
  /** The check passed: nothing is left to wait for. */
  #passed = false

  constructor(settings: ParticipantSettings) {
    super(settings, {
      client: 'pg',
      // The shard's own driverOptions come last, so a user can still override these.
      connection: {
        keepAlive: true,
        keepAliveInitialDelayMillis: settings.keepAliveDelayMs,
        connectionTimeoutMillis: settings.connectTimeoutMs,
        ...settings.connection,
      },
      quote: identifier,
    })
    this.#fenceTable = fenceTableOf(settings.logTable)
  }

  verify(): Promise<void> | undefined {
    if (this.#passed) return undefined
    this.#verified ??= this.#checkPreparedTransactions().then(
      () => {
        this.#passed = true
      },
      (error: unknown) => {
        this.#verified = undefined
        throw error
      },
    )
    return this.#verified
  }

  async #checkPreparedTransactions(): Promise<void> {
    const result = await this.onOwnConnection('SHOW max_prepared_transactions', this.timeouts.recoveryMs, (conn) =>
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

  async begin(conn: DriverConnection, _branch: BranchId, options: BranchOptions): Promise<void> {
    await (conn as Connection).query(this.#begin(options).map(controlSql).join('; ')).catch((error: unknown) => this.#fenced(error, options))
  }

  beginWith(conn: DriverConnection, _branch: BranchId, options: BranchOptions, query: KnexQuery): Promise<unknown> {
    const control = this.#begin(options)
    // The deadlock detector's label rides in the same round trip as BEGIN.
    if (options.label !== undefined) {
      control.push(setLabelStatement(options.label))
      labelSent(conn, options.label)
    }
    return runWithBegin(conn as Connection, control, query).catch((error: unknown) => this.#fenced(error, options))
  }

  #begin(options: BranchOptions): ControlStatement[] {
    const statements: ControlStatement[] = beginStatements(options.isolationLevel, options.lockTimeoutMs)
    if (options.fenceEpoch !== undefined) statements.push(...fenceStatements(this.#fenceTable, this.shardId, options.fenceEpoch))
    return statements
  }

  #fenced(error: unknown, options: BranchOptions): never {
    throw fenceError(error, this.#fenceTable, this.shardId, options.fenceEpoch)
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
      results = (await (conn as Connection).query(insertDecisionAndCommit(this.logTable, record))) as unknown as pg.QueryResult[]
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

  serverSessionOf(conn: DriverConnection): string | undefined {
    const pid = (conn as Connection & { processID?: number }).processID
    return pid === undefined ? undefined : String(pid)
  }

  endSessionOf(session: string, ms: number): Promise<boolean> {
    const pid = Math.trunc(Number(session))
    return endSessionWithin(this, ms, async (knex, gone) => {
      await knex.raw('SELECT pg_terminate_backend(?)', [pid])
      // The backend goes once it reaches a point where it checks for the signal: after a PREPARE under way.
      await gone(async () => (await knex.raw<{ rows: unknown[] }>('SELECT 1 FROM pg_stat_activity WHERE pid = ?', [pid])).rows.length === 0)
    })
  }

  canSend(conn: DriverConnection): boolean {
    // pg refuses a query itself once _queryable is false or _ending is set ("… is not
    // queryable"); a socket destroyed here (endSession) is gone before pg hears of it.
    const c = conn as Connection
    const stream = c.connection?.stream
    return c._queryable !== false && c._ending !== true && stream?.destroyed !== true && stream?.writable !== false
  }

  protected endSession(conn: DriverConnection): void {
    // The socket itself: pg fails the pending query ("Connection terminated") and the
    // server rolls back what is not prepared once the path lets it know.
    ;(conn as Connection).connection?.stream?.destroy()
  }

  protected isDuplicateKey(error: unknown): boolean {
    return sqlState(error) === UNIQUE_VIOLATION
  }

  async listPrepared(): Promise<PreparedBranch[]> {
    const result = await this.onOwnConnection('listing prepared transactions', this.timeouts.recoveryMs, (conn) =>
      this.knex
        .raw<{ rows: { gid: string; prepared: Date }[] }>(
          `SELECT gid, prepared FROM pg_prepared_xacts WHERE database = current_database() AND starts_with(gid, ?)`,
          [this.prefix],
        )
        .connection(conn),
    )
    const found: PreparedBranch[] = []
    for (const row of result.rows) {
      const parsed = parseBranchGid(this.prefix, row.gid)
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
      await this.onOwnConnection(`${verb} PREPARED`, this.timeouts.recoveryMs, (conn) => this.knex.raw(sql).connection(conn))
      return 'done'
    } catch (error) {
      const code = sqlState(error)
      if (code === UNDEFINED_OBJECT) return 'not-found'
      if (code === OBJECT_NOT_IN_PREREQUISITE_STATE) return 'busy'
      throw error
    }
  }

  fenceAbort(requests: FenceRequest[], createdAt: number, ms = this.timeouts.decisionMs): Promise<Map<string, Decision>> {
    return fenceInChunks(requests, (chunk) =>
      this.onOwnConnection('the fence', ms, async (conn) => {
        const decided = new Map<string, Decision>()
        try {
          // The insert waits on a coordinator's uncommitted commit record with the same key,
          // then does nothing if that commits; the SELECT, a new statement, then sees it.
          const inserted = await this.knex
            .raw<{ rows: { tx_id: string }[] }>(
              `INSERT INTO ${this.quotedLogTable} (${LOG_COLUMNS})
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
        for (const record of await readLogRecords(this.knex, conn, this.logTable, others, undefined)) decided.set(record.txId, record.decision)
        return decided
      }),
    )
  }

  classifyConflict(error: unknown): ConflictInfo | undefined {
    return classifyPostgresConflict(error)
  }

  isConnectionError(error: unknown): boolean {
    return isPostgresConnectionError(error)
  }

  #rolledBack(statement: string, tag: string | undefined): ShardTxError {
    return new ShardTxError(
      `shard ${this.shardId}: ${statement} answered ${tag ?? 'nothing'}: the branch had failed and the server rolled it back`,
      { code: 'BRANCH_ROLLED_BACK' },
    )
  }
}
