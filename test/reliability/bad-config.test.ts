import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError, createCluster, type ShardConfig } from '../../src/index.js'
import { newTransactionId } from '../../src/protocol/ids/transaction-id.js'
import { BranchFactory } from '../helpers/abandoned-branches.js'
import { sharedShards } from '../support/shared-cluster.js'

const pg = { id: 'pg-0', dialect: 'postgres', connection: { host: '127.0.0.1', port: 5432, user: 'app', database: 'db' } }
const my = { id: 'my-0', dialect: 'mysql', connection: 'mysql://app@127.0.0.1:3306/db' }
const withShard = (patch: Record<string, unknown>) => ({ shards: [{ ...pg, ...patch }] })
const withConnection = (patch: Record<string, unknown>) => withShard({ connection: { ...pg.connection, ...patch } })

/** Every way to get a cluster option wrong, with the field the error must name. */
const BAD: [string, unknown, string][] = [
  // the options object itself
  ['no options', undefined, 'options'],
  ['null options', null, 'options'],
  ['a string', 'postgres://x/db', 'options'],
  ['an array', [pg], 'options'],
  ['an unknown option', { shards: [pg], shard: [] }, 'shard'],
  // shards
  ['no shards', {}, 'shards'],
  ['shards not an array', { shards: pg }, 'shards'],
  ['an empty shard list', { shards: [] }, 'shards'],
  ['a null shard', { shards: [null] }, 'shards[0]'],
  ['a string shard', { shards: ['pg-0'] }, 'shards[0]'],
  ['an unknown shard key', withShard({ host: 'x' }), 'shards[0].host'],
  // shard ids: spliced into PREPARE TRANSACTION / XA literals
  ['a numeric id', withShard({ id: 1 }), 'shards[0].id'],
  ['an empty id', withShard({ id: '' }), 'shards[0].id'],
  ['an id with a quote', withShard({ id: "pg'0" }), 'shards[0].id'],
  ['an id with a double quote', withShard({ id: 'pg"0' }), 'shards[0].id'],
  ['an id with a backslash', withShard({ id: 'pg\\0' }), 'shards[0].id'],
  ['an id with a NUL', withShard({ id: 'pg\u00000' }), 'shards[0].id'],
  ['an id with a newline', withShard({ id: 'pg\n0' }), 'shards[0].id'],
  ['an id with a space', withShard({ id: 'pg 0' }), 'shards[0].id'],
  ['an id with a comma (the log lists participants comma-separated)', withShard({ id: 'pg,0' }), 'shards[0].id'],
  ['an id with a dot (the gid separator)', withShard({ id: 'pg.0' }), 'shards[0].id'],
  ['an id with a semicolon', withShard({ id: "pg';drop table x;--" }), 'shards[0].id'],
  ['a non-ASCII id', withShard({ id: 'pg-é' }), 'shards[0].id'],
  ['an id over 64 characters', withShard({ id: 'x'.repeat(65) }), 'shards[0].id'],
  ['duplicate ids', { shards: [pg, { ...my, id: 'pg-0' }] }, 'shards[1].id'],
  // dialects
  ['no dialect', withShard({ dialect: undefined }), 'shards[0].dialect'],
  ['an unknown dialect', withShard({ dialect: 'oracle' }), 'shards[0].dialect'],
  ['a dialect in capitals', withShard({ dialect: 'Postgres' }), 'shards[0].dialect'],
  ['mariadb as a dialect', withShard({ dialect: 'mariadb' }), 'shards[0].dialect'],
  // connections
  ['no connection', withShard({ connection: undefined }), 'shards[0].connection'],
  ['a null connection', withShard({ connection: null }), 'shards[0].connection'],
  ['a numeric connection', withShard({ connection: 5432 }), 'shards[0].connection'],
  ['an array connection', withShard({ connection: ['127.0.0.1'] }), 'shards[0].connection'],
  ['not a URL', withShard({ connection: 'db0:5432' }), 'shards[0].connection'],
  ['a URL without a host', withShard({ connection: 'postgres:///db' }), 'shards[0].connection'],
  ['an http URL', withShard({ connection: 'http://127.0.0.1/db' }), 'shards[0].connection'],
  ['a mysql URL on a postgres shard', withShard({ connection: 'mysql://127.0.0.1/db' }), 'shards[0].connection'],
  ['a postgres URL on a mysql shard', { shards: [{ ...my, connection: 'postgres://127.0.0.1/db' }] }, 'shards[0].connection'],
  ['an unknown connection key', withConnection({ hostname: 'x' }), 'shards[0].connection.hostname'],
  ['a numeric host', withConnection({ host: 127 }), 'shards[0].connection.host'],
  ['a string port', withConnection({ port: '5432' }), 'shards[0].connection.port'],
  ['port 0', withConnection({ port: 0 }), 'shards[0].connection.port'],
  ['a fractional port', withConnection({ port: 5432.5 }), 'shards[0].connection.port'],
  ['port 65536', withConnection({ port: 65_536 }), 'shards[0].connection.port'],
  ['a numeric password', withConnection({ password: 1234 }), 'shards[0].connection.password'],
  ['an object user', withConnection({ user: { name: 'app' } }), 'shards[0].connection.user'],
  ['an array database', withConnection({ database: ['db'] }), 'shards[0].connection.database'],
  ['a numeric socketPath', withConnection({ socketPath: 1 }), 'shards[0].connection.socketPath'],
  ['driverOptions as an array', withConnection({ driverOptions: [] }), 'shards[0].connection.driverOptions'],
  ['driverOptions as a string', withConnection({ driverOptions: 'ssl' }), 'shards[0].connection.driverOptions'],
  ['ssl as a string', withConnection({ ssl: 'yes' }), 'shards[0].connection.ssl'],
  // weights
  ['weight 0', withShard({ weight: 0 }), 'shards[0].weight'],
  ['a negative weight', withShard({ weight: -1 }), 'shards[0].weight'],
  ['weight NaN', withShard({ weight: Number.NaN }), 'shards[0].weight'],
  ['an infinite weight', withShard({ weight: Number.POSITIVE_INFINITY }), 'shards[0].weight'],
  ['a string weight', withShard({ weight: '2' }), 'shards[0].weight'],
  ['a boolean weight', withShard({ weight: true }), 'shards[0].weight'],
  // pools
  ['a string pool', withShard({ pool: 'big' }), 'shards[0].pool'],
  ['pool max 0', withShard({ pool: { max: 0 } }), 'shards[0].pool.max'],
  ['a fractional pool max', withShard({ pool: { max: 1.5 } }), 'shards[0].pool.max'],
  ['a string pool max', withShard({ pool: { max: '2' } }), 'shards[0].pool.max'],
  ['a negative pool min', withShard({ pool: { min: -1 } }), 'shards[0].pool.min'],
  ['pool min above max', withShard({ pool: { min: 3, max: 2 } }), 'shards[0].pool.min'],
  ['an unknown pool key', withShard({ pool: { idleTimeoutMillis: 1 } }), 'shards[0].pool.idleTimeoutMillis'],
  // the log shard
  ['an unknown log shard', { shards: [pg], log: 'pg-9' }, 'log'],
  ['a numeric log shard', { shards: [pg], log: 0 }, 'log'],
  // prefix: spliced into every branch name
  ['an empty prefix', { shards: [pg], prefix: '' }, 'prefix'],
  ['a prefix with a quote', { shards: [pg], prefix: "x'" }, 'prefix'],
  ['a prefix with a backslash', { shards: [pg], prefix: 'x\\' }, 'prefix'],
  ['a prefix with a NUL', { shards: [pg], prefix: 'x\u0000' }, 'prefix'],
  ['a prefix with a dash', { shards: [pg], prefix: 'x-' }, 'prefix'],
  ['a prefix with a dot', { shards: [pg], prefix: 'x.' }, 'prefix'],
  ['a non-ASCII prefix', { shards: [pg], prefix: 'ü_' }, 'prefix'],
  ['a prefix over 24 characters', { shards: [pg], prefix: 'x'.repeat(25) }, 'prefix'],
  ['a numeric prefix', { shards: [pg], prefix: 1 }, 'prefix'],
  // log table
  ['an empty log table', { shards: [pg], logTable: '' }, 'logTable'],
  ['a log table with SQL in it', { shards: [pg], logTable: 'log; drop table x' }, 'logTable'],
  ['a quoted log table', { shards: [pg], logTable: '"log"' }, 'logTable'],
  ['a log table starting with a digit', { shards: [pg], logTable: '1log' }, 'logTable'],
  ['a log table over 48 characters', { shards: [pg], logTable: 'l'.repeat(49) }, 'logTable'],
  // timings
  ['timeout 0', { shards: [pg], timeout: 0 }, 'timeout'],
  ['a negative timeout', { shards: [pg], timeout: -1 }, 'timeout'],
  ['timeout NaN', { shards: [pg], timeout: Number.NaN }, 'timeout'],
  ['an infinite timeout', { shards: [pg], timeout: Number.POSITIVE_INFINITY }, 'timeout'],
  ['a string timeout', { shards: [pg], timeout: '30s' }, 'timeout'],
  ['a timeout the transaction id cannot carry', { shards: [pg], timeout: 1e12 }, 'timeout'],
  ['lockTimeout 0', { shards: [pg], lockTimeout: 0 }, 'lockTimeout'],
  ['a string lockTimeout', { shards: [pg], lockTimeout: '1s' }, 'lockTimeout'],
  ['maxWait 0', { shards: [pg], maxWait: 0 }, 'maxWait'],
  ['an infinite maxWait', { shards: [pg], maxWait: Number.POSITIVE_INFINITY }, 'maxWait'],
  ['deadlockTimeout 0', { shards: [pg], deadlockTimeout: 0 }, 'deadlockTimeout'],
  ['deadlockTimeout true', { shards: [pg], deadlockTimeout: true }, 'deadlockTimeout'],
  ['a string deadlockTimeout', { shards: [pg], deadlockTimeout: '250ms' }, 'deadlockTimeout'],
  ['connectTimeout 0', { shards: [pg], connectTimeout: 0 }, 'connectTimeout'],
  ['a string connectTimeout', { shards: [pg], connectTimeout: '5s' }, 'connectTimeout'],
  ['a negative keepAliveDelay', { shards: [pg], keepAliveDelay: -1 }, 'keepAliveDelay'],
  ['keepAliveDelay NaN', { shards: [pg], keepAliveDelay: Number.NaN }, 'keepAliveDelay'],
  ['an unknown isolation level', { shards: [pg], isolationLevel: 'snapshot' }, 'isolationLevel'],
  ['an isolation level in capitals', { shards: [pg], isolationLevel: 'SERIALIZABLE' }, 'isolationLevel'],
  // recovery
  ['recovery true', { shards: [pg], recovery: true }, 'recovery'],
  ['recovery as a string', { shards: [pg], recovery: 'on' }, 'recovery'],
  ['recovery.enabled as a string', { shards: [pg], recovery: { enabled: 'yes' } }, 'recovery.enabled'],
  ['recovery.intervalMs 0', { shards: [pg], recovery: { intervalMs: 0 } }, 'recovery.intervalMs'],
  ['a negative recovery.graceMs', { shards: [pg], recovery: { graceMs: -1 } }, 'recovery.graceMs'],
  ['recovery.abortRetentionMs 0', { shards: [pg], recovery: { abortRetentionMs: 0 } }, 'recovery.abortRetentionMs'],
  ['an unknown recovery key', { shards: [pg], recovery: { interval: 5 } }, 'recovery.interval'],
  // hooks and logger
  ['onStep as a string', { shards: [pg], onStep: 'log' }, 'onStep'],
  ['a logger that is a string', { shards: [pg], logger: 'debug' }, 'logger'],
  ['a logger without child()', { shards: [pg], logger: { info() {}, warn() {}, error() {}, debug() {} } }, 'logger'],
  ['console as the logger', { shards: [pg], logger: console }, 'logger'],
]

describe('createCluster with a wrong option', () => {
  it.each(BAD)('throws ConfigError synchronously for %s', (_, options, field) => {
    let thrown: unknown
    let made: unknown
    try {
      // Synchronously: before anything connects, with nothing to close.
      made = createCluster(options as never)
    } catch (error) {
      thrown = error
    }
    expect(made).toBeUndefined()
    expect(thrown).toBeInstanceOf(ConfigError)
    const error = thrown as ConfigError
    expect(error.field).toBe(field)
    expect(error.code).toBe('CONFIG')
    expect(error.retryable).toBe(false)
    // The message names the field and says what is expected.
    expect(error.message.startsWith(`${field}: `)).toBe(true)
    expect(error.message.length).toBeGreaterThan(field.length + 10)
  })
})

describe('wrong transaction options', () => {
  const cluster = () => createCluster({ shards: sharedShards(), recovery: false })
  it.each<[string, Record<string, unknown>, string]>([
    ['an unknown option', { timeuot: 5 }, 'transaction options.timeuot'],
    ['timeout 0', { timeout: 0 }, 'transaction options.timeout'],
    ['a string timeout', { timeout: '5s' }, 'transaction options.timeout'],
    ['an unknown isolation level', { isolationLevel: 'snapshot' }, 'transaction options.isolationLevel'],
    ['a negative lockTimeout', { lockTimeout: -1 }, 'transaction options.lockTimeout'],
    ['a signal that is not an AbortSignal', { signal: { aborted: false } }, 'transaction options.signal'],
    ['retry as a number', { retry: 3 }, 'transaction options.retry'],
    ['retry with 0 attempts', { retry: { attempts: 0 } }, 'transaction options.retry.attempts'],
    ['retry with a negative backoff', { retry: { attempts: 2, backoff: -5 } }, 'transaction options.retry.backoff'],
    ['retry with a backoff past what a timer can wait', { retry: { attempts: 2, backoff: 3e9 } }, 'transaction options.retry.backoff'],
    ['independent as a string', { independent: 'yes' }, 'transaction options.independent'],
  ])('rejects %s with ConfigError before running the callback', async (_, options, field) => {
    const c = cluster()
    let ran = false
    try {
      const error = await c
        .transaction(() => {
          ran = true
        }, options as never)
        .catch((e: unknown) => e)
      expect(error).toBeInstanceOf(ConfigError)
      expect((error as ConfigError).field).toBe(field)
      expect(ran).toBe(false)
    } finally {
      await c.close()
    }
  })

  it('rejects options that are not an object', async () => {
    const c = cluster()
    try {
      await expect(c.transaction(async () => 1, 'fast' as never)).rejects.toBeInstanceOf(ConfigError)
      await expect(c.transaction(async () => 1, null as never)).rejects.toBeInstanceOf(ConfigError)
    } finally {
      await c.close()
    }
  })
})

describe('the longest ids and prefix the validation accepts', () => {
  // Shard ids of 64 characters fill a MySQL bqual exactly; a 24-character prefix and a
  // 20-character transaction id make a 44-byte gtrid and a 109-byte PostgreSQL gid.
  const prefix = `P${Date.now().toString(36)}`.padEnd(24, '_')
  const longId = (dialect: string, n: number) => `${dialect}-${n}`.padEnd(64, 'x')
  let shards: ShardConfig[]
  let factory: BranchFactory

  beforeAll(() => {
    const shared = sharedShards()
    shards = shared.map((s) => ({ ...s, id: longId(s.id.slice(0, 2), Number(s.id.slice(3))) }))
    factory = new BranchFactory(shards, prefix)
  })
  afterAll(() => factory.close())

  it('commit two-phase across PostgreSQL and MariaDB, and are listed and recovered whole', async () => {
    const [pg0, pg1, my0] = [shards[0]!, shards[1]!, shards[2]!]
    const table = `long_ids_${prefix.slice(1, 9).toLowerCase()}`
    const cluster = createCluster({ shards, log: pg1.id, prefix, logTable: `log_${table}`, recovery: { enabled: false, graceMs: 0 } })
    try {
      await cluster.migrate()
      for (const shard of [pg0, my0]) await cluster.forShard(shard.id).schema.createTable(table, (t) => t.string('id', 40).primary())
      // Log shard outside the transaction: both branches are prepared under the long names.
      const prepared: string[] = []
      const observed = createCluster({
        shards,
        log: pg1.id,
        prefix,
        logTable: `log_${table}`,
        recovery: false,
        onStep: (event) => {
          if (event.step === 'prepared') prepared.push(event.shardId!)
        },
      })
      try {
        await observed.transaction(async (tx) => {
          await tx.forShard(pg0.id)(table).insert({ id: 'committed' })
          await tx.forShard(my0.id)(table).insert({ id: 'committed' })
        })
      } finally {
        await observed.close()
      }
      expect(prepared.sort()).toEqual([pg0.id, my0.id].sort())
      for (const shard of [pg0, my0]) expect(await cluster.forShard(shard.id)(table).select('id')).toEqual([{ id: 'committed' }])

      // An abandoned transaction under the same long names is listed with its full ids and rolled back.
      const txId = newTransactionId(Date.now() - 60_000, 1_000)
      await factory.prepare(pg0.id, txId, { table, row: { id: 'abandoned' } })
      await factory.prepare(my0.id, txId, { table, row: { id: 'abandoned' } })
      expect((await cluster.inDoubt()).map((b) => `${b.txId}/${b.shardId}`).sort()).toEqual([`${txId}/${pg0.id}`, `${txId}/${my0.id}`].sort())
      const report = await cluster.recover()
      expect(report.rolledBack).toHaveLength(2)
      expect(await cluster.inDoubt()).toEqual([])
      for (const shard of [pg0, my0]) await cluster.forShard(shard.id).schema.dropTable(table)
      await cluster.forShard(pg1.id).schema.dropTable(`log_${table}`)
      await cluster.forShard(pg1.id).schema.dropTable(`log_${table}_migrations`)
      await cluster.forShard(pg1.id).schema.dropTableIfExists(`log_${table}_migrations_lock`)
    } finally {
      await cluster.close()
    }
  })
})
