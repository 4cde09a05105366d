import pg from 'pg'
import type { KnexQuery } from '../../src/protocol/participant.js'

/** pg's wire connection, as much of it as the pipeline writes to. */
interface WireConnection {
  stream: { cork?: () => void; uncork?: () => void }
  parse(config: { text: string; name?: string; types?: unknown[] }): void
  bind(config: { portal?: string; statement?: string; values?: unknown[] }): void
  execute(config: { portal?: string; rows?: number }): void
}

/** pg's Query class as it is at run time (its published types describe less of it). */
interface RuntimeQuery {
  submit(connection: WireConnection): Error | null | undefined
  handleCommandComplete(msg: unknown, connection: unknown): void
}
const QueryBase = pg.Query as unknown as new (config: object) => RuntimeQuery

/**
 * A pg query that sends the branch's BEGIN (and SET LOCAL …) ahead of the
 * caller's first parameterised statement, in the same extended-protocol pipeline
 * and under the same Sync: one round trip instead of two. Their CommandCompletes
 * are skipped, so the result is the statement's alone.
 */
class BeginThenQuery extends QueryBase {
  readonly #control: string[]
  #skip: number

  constructor(control: string[], config: pg.QueryConfig, callback: (error: Error | null, result: unknown) => void) {
    super({ ...config, callback })
    this.#control = control
    this.#skip = control.length
  }

  override submit(connection: WireConnection): Error | null | undefined {
    connection.stream.cork?.()
    try {
      for (const text of this.#control) {
        connection.parse({ text, name: '', types: [] })
        connection.bind({ portal: '', statement: '', values: [] })
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

type Connection = pg.Client

/**
 * Runs `control` statements (BEGIN …) and then `query` in one round trip,
 * leaving in `query.response` what knex's pg client would have set for `query`
 * alone. Without bindings pg uses the simple protocol, which takes the control
 * statements as a prefix of the text; with bindings, {@link BeginThenQuery}.
 */
export function runWithBegin(conn: Connection, control: string[], query: KnexQuery): Promise<unknown> {
  const values = query.bindings ?? []
  const config = { ...query.options, text: query.sql, values } as pg.QueryConfig
  return new Promise((resolve, reject) => {
    const done = (error: Error | null, result: unknown): void => {
      if (error) return reject(error)
      query.response = result
      resolve(query)
    }
    if (values.length > 0) {
      conn.query(new BeginThenQuery(control, config, done) as unknown as pg.QueryConfig)
      return
    }
    const text = `${control.join('; ')}; ${query.sql}`
    conn.query({ ...config, text }, (error: Error | null, results: unknown) => {
      if (error) return done(error, undefined)
      // The simple protocol answers with one result per statement: drop the control ones.
      const all = results as unknown[]
      done(null, all.length === control.length + 1 ? all[control.length] : all.slice(control.length))
    })
  })
}
