import type { Connection as Mysql2Connection } from 'mysql2'
import type { BranchId } from '../../src/protocol/ids/branch-id.js'
import { parseBranchXid } from '../../src/protocol/ids/branch-id.js'
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
  RunQuery,
} from '../../src/protocol/participant.js'
import { type FenceRequest, fenceInChunks, LOG_COLUMNS, type LogRow, logRowValues, toDecisionRecord } from '../../src/protocol/log-row.js'
import { KnexParticipant } from '../shared/knex-participant.js'
import { endSessionWithin } from '../shared/end-session.js'
import { findCause } from '../../src/errors.js'
import type { ParticipantSettings } from '../participant-settings.js'
import {
  classifyMysqlConflict,
  ER_DUP_ENTRY,
  ER_XAER_NOTA,
  errno,
  isMysqlConnectionError,
} from './mysql-errors.js'
import { labelComment, MysqlLockWaits } from './mysql-lock-waits.js'
import { splitRecoveredXid, xidLiteral } from './mysql-xid.js'
import { branchFenceError, fenceStatement, staleEpochOf, staleError } from './mysql-fence.js'
import { fenceTableOf } from '../../src/topology/table-names.js'

/** KILL of a thread that is not there (any more). */
const ER_NO_SUCH_THREAD = 1094

type Connection = Mysql2Connection & {
  /** The innodb_lock_wait_timeout this session runs with, when shardtx changed it. */
  shardtxLockWaitSeconds?: number
  stream?: { destroyed?: boolean; writable?: boolean }
}

/** Runs SQL on a mysql2 callback connection; `values` are substituted client-side. */
function run<T = unknown>(conn: DriverConnection, sql: string, values?: unknown[]): Promise<T> {
  return new Promise((resolve, reject) => {
    ;(conn as Connection).query(sql, values ?? [], (error, rows) => (error ? reject(error) : resolve(rows as T)))
  })
}

/**
 * A MySQL-protocol shard (MySQL 8, MariaDB 10.5+): branches are XA branches.
 * Connections run with `multipleStatements` so that `XA END` + `XA PREPARE`, and
 * the decision insert + `XA COMMIT … ONE PHASE`, each take one round trip.
 */
export class MysqlParticipant extends KnexParticipant implements Participant {
  readonly dialect = 'mysql' as const
  readonly lockWaits: MysqlLockWaits
  readonly #fenceTable: string

  constructor(settings: ParticipantSettings) {
    super(settings, {
      client: 'mysql2',
      // The shard's own driverOptions come after the defaults, so a user can still override them.
      connection: {
        enableKeepAlive: true,
        keepAliveInitialDelay: settings.keepAliveDelayMs,
        connectTimeout: settings.connectTimeoutMs,
        ...settings.connection,
        multipleStatements: true,
      },
      quote: (name) => '`' + name.replace(/`/g, '``') + '`',
    })
    this.#fenceTable = fenceTableOf(settings.logTable)
    this.lockWaits = new MysqlLockWaits(this, settings.connection)
  }

  verify(): undefined {
    // XA needs nothing configured on MariaDB 10.5+ / MySQL 8; reaching the server is the check.
    return undefined
  }

  async begin(conn: DriverConnection, branch: BranchId, options: BranchOptions): Promise<void> {
    const results = await run<unknown[]>(conn, this.#beginStatements(conn as Connection, branch, options).join('; ')).catch(
      (error: unknown) => {
        throw branchFenceError(error, this.#fenceTable, this.shardId, options.fenceEpoch)
      },
    )
    if (options.fenceEpoch !== undefined) await this.#checkFence(conn, branch, options.fenceEpoch, results[results.length - 1])
  }

  /** The branch's settings and XA START go ahead of the first statement in one multi-statement query. */
  async beginWith(
    conn: DriverConnection,
    branch: BranchId,
    options: BranchOptions,
    query: KnexQuery,
    runQuery: RunQuery,
  ): Promise<unknown> {
    const control = this.#beginStatements(conn as Connection, branch, options)
    const sql = query.sql
    // The deadlock detector's label leads the caller's statement, where trx_query shows it.
    const label = options.label === undefined ? '' : labelComment(options.label)
    query.sql = `${control.join('; ')}; ${label}${sql}`
    try {
      await runQuery(conn, query)
    } catch (error) {
      throw branchFenceError(error, this.#fenceTable, this.shardId, options.fenceEpoch)
    } finally {
      // knex puts the SQL into the error message: show the caller's statement, not ours.
      query.sql = sql
    }
    // One result per statement: keep the caller's.
    const [rows, fields] = query.response as [unknown[], unknown[]]
    const skip = control.length
    if (options.fenceEpoch !== undefined) await this.#checkFence(conn, branch, options.fenceEpoch, rows[skip - 1])
    query.response =
      rows.length === skip + 1 ? [rows[skip], fields[skip]] : [rows.slice(skip), fields.slice(skip)]
    return query
  }

  #beginStatements(conn: Connection, branch: BranchId, options: BranchOptions): string[] {
    const statements: string[] = []
    const lockWaitSeconds =
      options.lockTimeoutMs === undefined ? undefined : Math.max(1, Math.ceil(options.lockTimeoutMs / 1000))
    if (lockWaitSeconds !== conn.shardtxLockWaitSeconds) {
      // A session variable outlives the branch on a pooled connection: set it back when not asked for.
      statements.push(`SET SESSION innodb_lock_wait_timeout = ${lockWaitSeconds ?? 'DEFAULT'}`)
      conn.shardtxLockWaitSeconds = lockWaitSeconds
    }
    // Sent just before XA START it applies to the branch; inside one it fails with 1568.
    if (options.isolationLevel !== undefined) {
      statements.push(`SET TRANSACTION ISOLATION LEVEL ${options.isolationLevel.toUpperCase()}`)
    }
    statements.push(`XA START ${xidLiteral(branch)}`)
    if (options.fenceEpoch !== undefined) statements.push(fenceStatement(this.#fenceTable, this.shardId, options.firstBranch === true))
    return statements
  }

  /** A stale branch is ended at once, so that it can neither take more statements nor commit. */
  async #checkFence(conn: DriverConnection, branch: BranchId, epoch: number, fenceRows: unknown): Promise<void> {
    const shardEpoch = staleEpochOf(fenceRows, epoch)
    if (shardEpoch === undefined) return
    await run(conn, `XA END ${xidLiteral(branch)}`)
    throw staleError(this.shardId, epoch, shardEpoch)
  }

  async prepare(conn: DriverConnection, branch: BranchId): Promise<void> {
    const xid = xidLiteral(branch)
    await run(conn, `XA END ${xid}; XA PREPARE ${xid}`)
  }

  async commitPrepared(conn: DriverConnection, branch: BranchId): Promise<void> {
    await run(conn, `XA COMMIT ${xidLiteral(branch)}`)
  }

  async commitOnePhase(conn: DriverConnection, branch: BranchId): Promise<void> {
    const xid = xidLiteral(branch)
    await run(conn, `XA END ${xid}; XA COMMIT ${xid} ONE PHASE`)
  }

  async commitWithDecision(
    conn: DriverConnection,
    branch: BranchId,
    record: DecisionRecord,
  ): Promise<'committed' | 'conflict'> {
    const xid = xidLiteral(branch)
    try {
      // A failing statement stops the batch, so the branch never commits without its record.
      await run(
        conn,
        `INSERT INTO ${this.quotedLogTable} (${LOG_COLUMNS}) VALUES (?, ?, ?, ?); ` +
          `XA END ${xid}; XA COMMIT ${xid} ONE PHASE`,
        logRowValues(record),
      )
      return 'committed'
    } catch (error) {
      if (errno(error) !== ER_DUP_ENTRY) throw error
      // A recoverer's abort record holds the key: the transaction is fenced.
      await run(conn, `XA END ${xid}; XA ROLLBACK ${xid}`)
      return 'conflict'
    }
  }

  async finishReadOnly(conn: DriverConnection, branch: BranchId): Promise<void> {
    await this.commitOnePhase(conn, branch)
  }

  async rollback(conn: DriverConnection, branch: BranchId, prepared: boolean): Promise<void> {
    const xid = xidLiteral(branch)
    if (prepared) {
      await run(conn, `XA ROLLBACK ${xid}`)
      return
    }
    try {
      await run(conn, `XA END ${xid}; XA ROLLBACK ${xid}`)
    } catch {
      // XA END fails when the server already rolled the branch back (1614 after a deadlock);
      // the branch still waits for its XA ROLLBACK.
      await run(conn, `XA ROLLBACK ${xid}`)
    }
  }

  serverSessionOf(conn: DriverConnection): string | undefined {
    const thread = (conn as Connection & { threadId?: number | null }).threadId
    return thread === null || thread === undefined ? undefined : String(thread)
  }

  endSessionOf(session: string, ms: number): Promise<boolean> {
    const thread = Math.trunc(Number(session))
    return endSessionWithin(this, ms, async (knex, gone) => {
      try {
        await knex.raw(`KILL CONNECTION ${thread}`)
      } catch (error) {
        if (findCause(error, (e) => errno(e) === ER_NO_SUCH_THREAD) === undefined) throw error
      }
      // Until the server has let the thread go: only then may another session finish its XA branch (1397 before).
      await gone(async () => {
        const [rows] = (await knex.raw('SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE ID = ?', [thread])) as [{ n: number }[]]
        return Number(rows[0]?.n ?? 0) === 0
      })
    })
  }

  canSend(conn: DriverConnection): boolean {
    // mysql2's state: 'error' after a fatal or protocol error, 'disconnected' once closing or its socket is destroyed.
    const c = conn as Connection
    return c.state !== 'error' && c.state !== 'disconnected' && c.stream?.destroyed !== true && c.stream?.writable !== false
  }

  protected endSession(conn: DriverConnection): void {
    // Closing the socket ends the session (once the path lets the server know), so the server
    // rolls back an unprepared branch and lets other sessions finish a prepared one (1397 while
    // it stays open). Not mysql2's destroy(): it only half-closes and marks the connection
    // closing, which silences the pending command; with the socket destroyed the command fails.
    ;(conn as unknown as { stream: { destroy(): void } }).stream.destroy()
  }

  protected isDuplicateKey(error: unknown): boolean {
    return errno(error) === ER_DUP_ENTRY
  }

  async listPrepared(): Promise<PreparedBranch[]> {
    const [rows] = await this.onOwnConnection('XA RECOVER', this.timeouts.recoveryMs, (conn) => this.knex.raw('XA RECOVER').connection(conn))
    return this.#ours(rows as RecoveredRow[])
  }

  async finishPrepared(branch: BranchId, outcome: Decision): Promise<FinishResult> {
    const verb = outcome === 'commit' ? 'COMMIT' : 'ROLLBACK'
    try {
      const sql = `XA ${verb} ${xidLiteral(branch)}`
      await this.onOwnConnection(`XA ${verb}`, this.timeouts.recoveryMs, (conn) => this.knex.raw(sql).connection(conn))
      return 'done'
    } catch (error) {
      if (errno(error) !== ER_XAER_NOTA) throw error
      // 1397 means gone, or still owned by the connection that prepared it: look.
      const still = (await this.listPrepared()).some((b) => b.txId === branch.txId)
      return still ? 'busy' : 'not-found'
    }
  }

  fenceAbort(requests: FenceRequest[], createdAt: number, ms = this.timeouts.decisionMs): Promise<Map<string, Decision>> {
    return fenceInChunks(requests, async (chunk) => {
      const decided = new Map<string, Decision>()
      let results: unknown[]
      try {
        // ON DUPLICATE KEY (not INSERT IGNORE, which would also swallow other errors) waits on a
        // coordinator's uncommitted commit record; the SELECT then reads what it committed.
        const ids = chunk.map((r) => r.txId)
        results = await this.onOwnConnection('the fence', ms, (conn) =>
          this.knex
            .raw(
              `INSERT INTO ${this.quotedLogTable} (${LOG_COLUMNS})
               VALUES ${chunk.map(() => "(?, 'abort', ?, ?)").join(', ')}
               ON DUPLICATE KEY UPDATE tx_id = tx_id;
               SELECT * FROM ${this.quotedLogTable} WHERE tx_id IN (${ids.map(() => '?').join(', ')})`,
              [...chunk.flatMap((r) => [r.txId, r.participants.join(','), createdAt]), ...ids],
            )
            .connection(conn)
            .then((r: unknown[]) => r[0] as unknown[]),
        )
      } catch (error) {
        // 1205 / 1213: a coordinator's branch held a key past innodb_lock_wait_timeout, or
        // InnoDB saw a deadlock and rolled the insert back. That means "ask again", never "decide".
        if (classifyMysqlConflict(error) !== undefined) return decided
        throw error
      }
      for (const row of results[1] as LogRow[]) decided.set(row.tx_id, toDecisionRecord(row).decision)
      return decided
    })
  }

  classifyConflict(error: unknown): ConflictInfo | undefined {
    return classifyMysqlConflict(error)
  }

  isConnectionError(error: unknown): boolean {
    return isMysqlConnectionError(error)
  }

  /** `XA RECOVER` lists every database on the server: keep our prefix and this shard only. */
  #ours(rows: RecoveredRow[]): PreparedBranch[] {
    const found: PreparedBranch[] = []
    for (const row of rows) {
      const xid = splitRecoveredXid(row)
      const parsed = parseBranchXid(this.prefix, xid.formatId, xid.gtrid, xid.bqual)
      if (parsed !== undefined && parsed.shardId === this.shardId) found.push(parsed)
    }
    return found
  }
}

interface RecoveredRow {
  formatID: number
  gtrid_length: number
  bqual_length: number
  data: Buffer | string
}
