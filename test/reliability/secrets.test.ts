import { randomBytes } from 'node:crypto'
import { inspect } from 'node:util'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { type Cluster, ConfigError, createCluster, type ShardConfig } from '../../src/index.js'
import { connectMysql } from '../support/raw-connections.js'
import { sharedShards } from '../support/shared-cluster.js'
import { closedPort } from './leak-checks.js'

const tag = randomBytes(4).toString('hex')
/** Planted where PostgreSQL's trust auth ignores them: they reach the driver, never the server. */
const PG_OBJECT_SECRET = `pg-obj-secret-${tag}`
const PG_URL_SECRET = `pg-url-secret-${tag}`
/** The real password of a MariaDB user made for this test. */
const MY_SECRET = `planted-secret-${tag}`
/** A wrong password for that user, and passwords for shards nobody listens on. */
const WRONG_SECRET = `wrong-secret-${tag}`
const REFUSED_PG_SECRET = `refused-pg-secret-${tag}`
const REFUSED_MY_SECRET = `refused-my-secret-${tag}`
const SECRETS = [PG_OBJECT_SECRET, PG_URL_SECRET, MY_SECRET, WRONG_SECRET, REFUSED_PG_SECRET, REFUSED_MY_SECRET]
const MY_USER = `stx_sec_${tag}`

/** Every form a secret may take in text: as is, URL-encoded, JSON-escaped, base64. */
function leaksIn(text: string): string[] {
  return SECRETS.filter((secret) =>
    [secret, encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1), Buffer.from(secret).toString('base64')].some((form) =>
      text.includes(form),
    ),
  )
}

/** Everything an error shows: message, stack, inspect (hidden fields too), JSON, down its cause chain. */
function everythingAbout(error: unknown, seen = new Set<unknown>()): string {
  if (error === null || error === undefined || seen.has(error)) return ''
  seen.add(error)
  const parts = [String(error), inspect(error, { depth: 8, showHidden: true, getters: true })]
  try {
    parts.push(JSON.stringify(error))
  } catch {
    // Cycles: inspect above already showed it.
  }
  if (error instanceof Error) {
    parts.push(error.message, error.stack ?? '', everythingAbout(error.cause, seen))
    if (error instanceof AggregateError) for (const inner of error.errors) parts.push(everythingAbout(inner, seen))
  }
  return parts.join('\n')
}


describe('passwords stay secret', () => {
  const logLines: string[] = []
  const captured: string[] = []
  const logger = pino({ level: 'trace' }, { write: (line: string) => void logLines.push(line) })
  let cluster: Cluster
  let shards: ShardConfig[]
  const table = `secret_rows_${tag}`

  beforeAll(async () => {
    const shared = sharedShards()
    const [pg0, pg1, my0, my1] = ['pg-0', 'pg-1', 'my-0', 'my-1'].map((id) => shared.find((s) => s.id === id)!)
    for (const my of [my0!, my1!]) {
      const root = await connectMysql(my)
      try {
        for (const host of ['%', 'localhost', '127.0.0.1']) {
          await root.query(`CREATE USER '${MY_USER}'@'${host}' IDENTIFIED BY ?`, [MY_SECRET])
          await root.query(`GRANT ALL PRIVILEGES ON shardtx.* TO '${MY_USER}'@'${host}'`)
        }
      } finally {
        await root.end()
      }
    }
    const login = (s: ShardConfig) => s.connection as { host: string; port: number; database: string }
    const refusedPort = await closedPort()
    shards = [
      { id: 'pg-0', dialect: 'postgres', connection: { ...login(pg0!), user: 'postgres', password: PG_OBJECT_SECRET } },
      {
        id: 'pg-1',
        dialect: 'postgres',
        connection: `postgres://postgres:${PG_URL_SECRET}@${login(pg1!).host}:${login(pg1!).port}/${login(pg1!).database}`,
      },
      { id: 'my-0', dialect: 'mysql', connection: { ...login(my0!), user: MY_USER, password: MY_SECRET } },
      { id: 'my-1', dialect: 'mysql', connection: `mysql://${MY_USER}:${MY_SECRET}@${login(my1!).host}:${login(my1!).port}/shardtx` },
      { id: 'my-wrong', dialect: 'mysql', connection: { ...login(my0!), user: MY_USER, password: WRONG_SECRET } },
      { id: 'pg-refused', dialect: 'postgres', connection: `postgres://postgres:${REFUSED_PG_SECRET}@127.0.0.1:${refusedPort}/x` },
      { id: 'my-refused', dialect: 'mysql', connection: { host: '127.0.0.1', port: refusedPort, user: 'root', password: REFUSED_MY_SECRET } },
    ]
    cluster = createCluster({
      shards,
      log: 'pg-0',
      logger,
      prefix: `sec${tag}_`,
      logTable: `log_${tag}`,
      lockTimeout: 1_000,
      recovery: { intervalMs: 50, graceMs: 0 },
    })
    await cluster.migrate()
    for (const id of ['pg-0', 'pg-1', 'my-0', 'my-1']) {
      await cluster.forShard(id).schema.createTable(table, (t) => {
        t.integer('id').primary()
        t.integer('n').notNullable()
      })
      await cluster.forShard(id)(table).insert({ id: 1, n: 0 })
    }
  })

  afterAll(async () => {
    for (const id of ['pg-0', 'pg-1', 'my-0', 'my-1']) await cluster.forShard(id).schema.dropTableIfExists(table)
    await cluster.forShard('pg-0').schema.dropTableIfExists(`log_${tag}`)
    await cluster.forShard('pg-0').schema.dropTableIfExists(`log_${tag}_migrations`)
    await cluster.forShard('pg-0').schema.dropTableIfExists(`log_${tag}_migrations_lock`)
    await cluster.close()
    for (const my of sharedShards('mysql')) {
      const root = await connectMysql(my)
      try {
        for (const host of ['%', 'localhost', '127.0.0.1']) await root.query(`DROP USER IF EXISTS '${MY_USER}'@'${host}'`)
      } finally {
        await root.end()
      }
    }
  })

  /** Runs `work`, keeps everything about its failure, and returns the error. */
  async function failure(work: () => Promise<unknown>): Promise<Error> {
    try {
      await work()
    } catch (error) {
      captured.push(everythingAbout(error))
      return error as Error
    }
    throw new Error('expected a failure')
  }

  it('the scan finds a planted password in every form it looks for', () => {
    for (const form of [MY_SECRET, encodeURIComponent(`x${PG_URL_SECRET}`), JSON.stringify({ p: WRONG_SECRET }), Buffer.from(REFUSED_MY_SECRET).toString('base64')]) {
      expect(leaksIn(`before ${form} after`)).toHaveLength(1)
    }
    expect(leaksIn(everythingAbout(new Error('outer', { cause: new AggregateError([new Error(PG_OBJECT_SECRET)]) })))).toEqual([PG_OBJECT_SECRET])
  })

  it('the planted passwords are really in use (the MariaDB one logs in, the wrong one is refused)', async () => {
    await cluster.transaction(async (tx) => {
      for (const id of ['pg-0', 'pg-1', 'my-0', 'my-1']) await tx.forShard(id)(table).where({ id: 1 }).increment('n', 1)
    })
    const wrong = await failure(() => cluster.transaction((tx) => tx.forShard('my-wrong')(table).select()))
    expect(wrong.message).toMatch(/Access denied/)
  })

  it('not in the errors of a refused connection, a failing query, a conflict, or in-doubt listing', async () => {
    await failure(() => cluster.transaction((tx) => tx.forShard('pg-refused')('x').select()))
    await failure(() => cluster.transaction((tx) => tx.forShard('my-refused')('x').select()))
    for (const id of ['pg-0', 'pg-1', 'my-0', 'my-1']) {
      await failure(() => cluster.transaction((tx) => tx.forShard(id).raw('select * from no_such_table_at_all')))
      await failure(() => cluster.transaction((tx) => tx.forShard(id)(table).insert({ id: 1, n: 0 })))
    }
    // A lock timeout while another transaction holds the row.
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    let locked!: () => void
    const isLocked = new Promise<void>((resolve) => (locked = resolve))
    const holder = cluster.transaction(async (tx) => {
      await tx.forShard('my-0')(table).where({ id: 1 }).forUpdate().select()
      locked()
      await held
    })
    await isLocked
    await failure(() => cluster.transaction((tx) => tx.forShard('my-0')(table).where({ id: 1 }).increment('n', 1)))
    release()
    await holder
    await failure(() => cluster.inDoubt())
    await failure(() => cluster.transaction(async () => 1, { timeout: -1 }))
    const report = await cluster.recover()
    expect(report.failed.map((f) => f.shardId).sort()).toEqual(['my-refused', 'my-wrong', 'pg-refused'])
    captured.push(inspect(report, { depth: 8 }), JSON.stringify(report))
    const status = await cluster.status()
    captured.push(inspect(status, { depth: 8 }), JSON.stringify(status))
    // Background recovery rounds fail on the bad shards and log it: wait for that line.
    await vi.waitFor(() => expect(logLines.join('')).toMatch(/recovery could not reach some shards/), { timeout: 20_000 })
    expect(captured.join('\n')).toMatch(/ECONNREFUSED/)
    expect(leaksIn(captured.join('\n'))).toEqual([])
  })

  it('not in a config error, even for a malformed URL or a bad connection field', () => {
    const attempts: unknown[] = [
      { shards: [{ id: 'a', dialect: 'postgres', connection: `postgres://u:${PG_URL_SECRET}@:bad` }] },
      { shards: [{ id: 'a', dialect: 'postgres', connection: `http://u:${PG_URL_SECRET}@host/db` }] },
      { shards: [{ id: 'a', dialect: 'mysql', connection: `postgres://u:${MY_SECRET}@host/db` }] },
      { shards: [{ id: 'a', dialect: 'mysql', connection: { host: 'h', password: MY_SECRET, port: 'x' } }] },
      { shards: [{ id: "a'", dialect: 'mysql', connection: { host: 'h', password: MY_SECRET } }] },
      { shards: [{ id: 'a', dialect: 'mysql', connection: { host: 'h', password: MY_SECRET } }], prefix: MY_SECRET },
    ]
    for (const options of attempts) {
      let error: unknown
      try {
        createCluster(options as never)
      } catch (e) {
        error = e
      }
      expect(error).toBeInstanceOf(ConfigError)
      expect(leaksIn(everythingAbout(error))).toEqual([])
    }
  })

  it('not in util.inspect or String of the cluster, its transactions, or what it reports', async () => {
    const views = [
      inspect(cluster, { depth: Infinity, showHidden: true, getters: true }),
      String(cluster),
      JSON.stringify(cluster) ?? '',
      inspect(cluster.stats(), { depth: 8 }),
    ]
    await cluster.transaction(async (tx) => {
      await tx.forShard('pg-0')(table).select()
      views.push(inspect(tx, { depth: Infinity, showHidden: true, getters: true }), String(tx), JSON.stringify(tx) ?? '')
    })
    expect(leaksIn(views.join('\n'))).toEqual([])
  })

  it('not in any log line, at level trace', () => {
    const text = logLines.join('')
    // The log really saw the failures and the protocol steps.
    expect(text).toMatch(/recovery could not reach some shards/)
    expect(text).toMatch(/"msg":"prepare"/)
    expect(leaksIn(text)).toEqual([])
  })
})
