import pg from 'pg'
import type { KnexQuery } from '../../src/protocol/participant.js'
import { sqlState } from './postgres-errors.js'

/** pg's wire connection, as much of it as the pipeline writes to. */
interface WireConnection {
  stream: { cork?: () => void; uncork?: () => void }
  parse(config: { text: string; name?: string; types?: unknown[] }): void
  bind(config: { portal?: string; statement?: string; values?: unknown[] }): void
  execute(config: { portal?: string; rows?: number }): void
  close(config: { type: 'S' | 'P'; name?: string }): void
}

/** pg's Query class as it is at run time (its published types describe less of it). */
interface RuntimeQuery {
  submit(connection: WireConnection): Error | null | undefined
  handleCommandComplete(msg: unknown, connection: unknown): void
}
const QueryBase = pg.Query as unknown as new (config: object) => RuntimeQuery

/**
 * A control statement that the server parses and plans once per connection, as
 * a named statement of the extended protocol, and then only binds and executes:
 * parsing and planning were most of the fence check's cost on the server
 * (bench/fence-statements.ts). `sql` is the same statement with the values
 * written in, for the simple protocol, which has no named statements.
 */
export interface PreparedControl {
  readonly name: string
  readonly text: string
  readonly values: readonly string[]
  readonly sql: string
}

/** A statement sent ahead of the caller's: plain SQL, or one prepared once per connection. */
export type ControlStatement = string | PreparedControl

/** The statement as the simple protocol takes it: a prepared one with its values written in. */
export function controlSql(statement: ControlStatement): string {
  return typeof statement === 'string' ? statement : statement.sql
}

/** 26000: a Bind named a statement the session does not have (dropped by DEALLOCATE or DISCARD). */
const INVALID_SQL_STATEMENT_NAME = '26000'

type Connection = pg.Client

/** The named statements each connection has, by name, with their text: only those known to be there. */
const preparedOn = new WeakMap<Connection, Map<string, string>>()

function preparedStatementsOf(conn: Connection): Map<string, string> {
  let prepared = preparedOn.get(conn)
  if (prepared === undefined) {
    prepared = new Map()
    preparedOn.set(conn, prepared)
  }
  return prepared
}

/**
 * A pg query that sends the branch's BEGIN (and SET LOCAL …) ahead of the
 * caller's first parameterised statement, in the same extended-protocol pipeline
 * and under the same Sync: one round trip instead of two. Their CommandCompletes
 * are skipped, so the result is the statement's alone. Each {@link PreparedControl}
 * named in `parsing` is closed (no error when it is missing) and parsed again under
 * its name in the same pipeline; any other is only bound.
 */
class BeginThenQuery extends QueryBase {
  readonly #control: readonly ControlStatement[]
  readonly #parsing: ReadonlySet<string>
  #skip: number

  constructor(control: readonly ControlStatement[], parsing: ReadonlySet<string>, config: pg.QueryConfig, callback: (error: Error | null, result: unknown) => void) {
    super({ ...config, callback })
    this.#control = control
    this.#parsing = parsing
    this.#skip = control.length
  }

  override submit(connection: WireConnection): Error | null | undefined {
    connection.stream.cork?.()
    try {
      for (const statement of this.#control) {
        if (typeof statement === 'string') {
          connection.parse({ text: statement, name: '', types: [] })
          connection.bind({ portal: '', statement: '', values: [] })
        } else {
          if (this.#parsing.has(statement.name)) {
            connection.close({ type: 'S', name: statement.name })
            connection.parse({ text: statement.text, name: statement.name, types: [] })
          }
          connection.bind({ portal: '', statement: statement.name, values: [...statement.values] })
        }
        connection.execute({ portal: '', rows: 0 })
      }
      return super.submit(connection)
    } finally {
      connection.stream.uncork?.()
    }
  }

  override handleCommandComplete(msg: unknown, connection: unknown): void {
    if (this.#skip > 0) {
      this.#skip--
      return
    }
    super.handleCommandComplete(msg, connection)
  }
}

/**
 * Runs `control` statements (BEGIN …) and then `query` in one round trip,
 * leaving in `query.response` what knex's pg client would have set for `query`
 * alone. Without bindings pg uses the simple protocol, which takes the control
 * statements as a prefix of the text (a prepared one as its `sql`); with
 * bindings, {@link BeginThenQuery}.
 *
 * A named statement parsed in a pipeline that failed counts as unknown, so the next
 * pipeline closes and parses it again: the server skips a Parse behind a failed
 * statement. One the connection already had stays known through a failure (a stale
 * refusal, a lock conflict), with its generic plan: an error drops no prepared
 * statement. A session that lost one (DEALLOCATE ALL or DISCARD ALL sent on a
 * pooled connection) fails its Bind with 26000 when only BEGIN has run: that
 * transaction is rolled back and the pipeline sent once more, parsing again.
 */
export async function runWithBegin(conn: Connection, control: readonly ControlStatement[], query: KnexQuery): Promise<unknown> {
  if ((query.bindings ?? []).length === 0) return runSimple(conn, control, query)
  try {
    return await runExtended(conn, control, query)
  } catch (error) {
    if (!lostPreparedStatement(error, control)) throw error
    await conn.query('ROLLBACK')
    return runExtended(conn, control, query)
  }
}

function lostPreparedStatement(error: unknown, control: readonly ControlStatement[]): boolean {
  if (sqlState(error) !== INVALID_SQL_STATEMENT_NAME) return false
  const message = error instanceof Error ? error.message : ''
  return control.some((s) => typeof s !== 'string' && message.includes(`"${s.name}"`))
}

function runExtended(conn: Connection, control: readonly ControlStatement[], query: KnexQuery): Promise<unknown> {
  const prepared = preparedStatementsOf(conn)
  const named = control.filter((s): s is PreparedControl => typeof s !== 'string')
  const parsing = new Set(named.filter((s) => prepared.get(s.name) !== s.text).map((s) => s.name))
  const config = { ...query.options, text: query.sql, values: query.bindings } as pg.QueryConfig
  return new Promise((resolve, reject) => {
    const done = (error: Error | null, result: unknown): void => {
      const lost = error !== null && lostPreparedStatement(error, control)
      for (const statement of named) {
        if (error === null) prepared.set(statement.name, statement.text)
        else if (lost || parsing.has(statement.name)) prepared.delete(statement.name)
      }
      if (error) return reject(error)
      query.response = result
      resolve(query)
    }
    conn.query(new BeginThenQuery(control, parsing, config, done) as unknown as pg.QueryConfig)
  })
}

function runSimple(conn: Connection, control: readonly ControlStatement[], query: KnexQuery): Promise<unknown> {
  const text = `${control.map(controlSql).join('; ')}; ${query.sql}`
  return new Promise((resolve, reject) => {
    conn.query({ ...query.options, text, values: [] } as pg.QueryConfig, (error: Error | null, results: unknown) => {
      if (error) return reject(error)
      // The simple protocol answers with one result per statement: drop the control ones.
      const all = results as unknown[]
      query.response = all.length === control.length + 1 ? all[control.length] : all.slice(control.length)
      resolve(query)
    })
  })
}
