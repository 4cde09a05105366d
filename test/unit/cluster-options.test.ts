import { describe, expect, it } from 'vitest'
import { ConfigError } from '../../src/errors.js'
import { resolveClusterOptions } from '../../src/config/cluster-options.js'

const pg = { id: 'pg-0', dialect: 'postgres', connection: 'postgres://u:secret@localhost:5432/db' }
const my = { id: 'my-0', dialect: 'mysql', connection: { host: 'localhost', port: 3306, user: 'root', database: 'db' } }

function problem(options: unknown): ConfigError {
  try {
    resolveClusterOptions(options)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return error as ConfigError
  }
  throw new Error('expected a ConfigError')
}

describe('cluster options', () => {
  it('fills in defaults', () => {
    const config = resolveClusterOptions({ shards: [pg, my] })
    expect(config.logShardId).toBe('pg-0')
    expect(config.prefix).toBe('stx_')
    expect(config.logTable).toBe('shardtx_log')
    expect(config.recovery.enabled).toBe(true)
    expect(config.recovery.dutyCycle).toBe(0.05)
    expect(config.deadlockTimeoutMs).toBe(250)
    expect(resolveClusterOptions({ shards: [pg], deadlockTimeout: false }).deadlockTimeoutMs).toBe(false)
    expect(resolveClusterOptions({ shards: [pg], recovery: { dutyCycle: 1 } }).recovery.dutyCycle).toBe(1)
    expect(config.shards[1]!.connection).toMatchObject({ host: 'localhost', port: 3306 })
    expect(config.timeouts).toEqual({ decisionMs: 5_000, commitMs: 2_000, rollbackMs: 2_000, recoveryMs: 5_000 })
    expect(resolveClusterOptions({ shards: [pg], timeouts: { commit: 300 } }).timeouts).toMatchObject({ commitMs: 300, decisionMs: 5_000 })
  })

  it.each([
    [undefined, 'options'],
    [{}, 'shards'],
    [{ shards: [] }, 'shards'],
    [{ shards: [pg], lgo: 'pg-0' }, 'lgo'],
    [{ shards: [pg], timeouts: 5_000 }, 'timeouts'],
    [{ shards: [pg], timeouts: { decison: 1 } }, 'timeouts.decison'],
    [{ shards: [pg], timeouts: { decision: 0 } }, 'timeouts.decision'],
    [{ shards: [pg], timeouts: { commit: -1 } }, 'timeouts.commit'],
    [{ shards: [pg], timeouts: { rollback: '2s' } }, 'timeouts.rollback'],
    [{ shards: [pg], timeouts: { recovery: Number.POSITIVE_INFINITY } }, 'timeouts.recovery'],
    [{ shards: [pg, { ...pg }] }, 'shards[1].id'],
    [{ shards: [{ ...pg, id: "pg'0" }] }, 'shards[0].id'],
    [{ shards: [{ ...pg, id: 'a.b' }] }, 'shards[0].id'],
    [{ shards: [{ ...pg, id: 'x'.repeat(65) }] }, 'shards[0].id'],
    [{ shards: [{ ...pg, id: 'pg\0' }] }, 'shards[0].id'],
    [{ shards: [{ ...pg, dialect: 'oracle' }] }, 'shards[0].dialect'],
    [{ shards: [{ ...pg, weight: 0 }] }, 'shards[0].weight'],
    [{ shards: [{ ...pg, weight: -1 }] }, 'shards[0].weight'],
    [{ shards: [{ ...pg, weight: Number.POSITIVE_INFINITY }] }, 'shards[0].weight'],
    [{ shards: [{ ...pg, weight: '2' }] }, 'shards[0].weight'],
    [{ shards: [{ ...pg, connection: 'not a url' }] }, 'shards[0].connection'],
    [{ shards: [{ ...pg, connection: 'mysql://localhost/db' }] }, 'shards[0].connection'],
    [{ shards: [{ ...my, connection: { ...my.connection, hots: 'x' } }] }, 'shards[0].connection.hots'],
    [{ shards: [{ ...my, connection: { ...my.connection, port: 70000 } }] }, 'shards[0].connection.port'],
    [{ shards: [{ ...my, connection: 42 }] }, 'shards[0].connection'],
    [{ shards: [{ ...pg, pool: { max: 0 } }] }, 'shards[0].pool.max'],
    [{ shards: [{ ...pg, pool: { min: 5, max: 2 } }] }, 'shards[0].pool.min'],
    [{ shards: [{ ...pg, pool: { maximum: 2 } }] }, 'shards[0].pool.maximum'],
    [{ shards: [{ ...pg, extra: 1 }] }, 'shards[0].extra'],
    [{ shards: [pg], log: 'pg-9' }, 'log'],
    [{ shards: [pg], prefix: "x'" }, 'prefix'],
    [{ shards: [pg], prefix: 'p\\' }, 'prefix'],
    [{ shards: [pg], prefix: 'x'.repeat(25) }, 'prefix'],
    [{ shards: [pg], prefix: '' }, 'prefix'],
    [{ shards: [pg], logTable: 'log; drop' }, 'logTable'],
    [{ shards: [pg], timeout: 0 }, 'timeout'],
    [{ shards: [pg], timeout: Number.NaN }, 'timeout'],
    [{ shards: [pg], timeout: 1e12 }, 'timeout'],
    [{ shards: [pg], isolationLevel: 'snapshot' }, 'isolationLevel'],
    [{ shards: [pg], recovery: { intervalMs: -1 } }, 'recovery.intervalMs'],
    [{ shards: [pg], recovery: { dutyCycle: 0 } }, 'recovery.dutyCycle'],
    // null is a mistake, not "use the default"
    [{ shards: [pg], log: null }, 'log'],
    [{ shards: [pg], prefix: null }, 'prefix'],
    [{ shards: [pg], logTable: null }, 'logTable'],
    [{ shards: [{ ...pg, weight: null }] }, 'shards[0].weight'],
    // The ring's range, named at the caller's index (the ring itself sorts the shards by id).
    [{ shards: [{ ...pg, id: 'z', weight: 1e10 }, { ...pg, id: 'a' }] }, 'shards[0].weight'],
    // A hole in a sparse array is a missing shard, not nothing.
    // eslint-disable-next-line no-sparse-arrays
    [{ shards: [, pg] }, 'shards[0]'],
    [{ shards: [pg], recovery: { dutyCycle: 1.5 } }, 'recovery.dutyCycle'],
    [{ shards: [pg], recovery: { dutyCycle: Number.NaN } }, 'recovery.dutyCycle'],
    [{ shards: [pg], recovery: { dutyCycle: '0.5' } }, 'recovery.dutyCycle'],
    [{ shards: [pg], recovery: { interval: 5 } }, 'recovery.interval'],
    [{ shards: [pg], onStep: 'x' }, 'onStep'],
    [{ shards: [pg], propagation: 'yes' }, 'propagation'],
    // Past what a Node.js timer can wait (2^31 - 1 ms): such a bound would fire after 1 ms, every time.
    [{ shards: [pg], timeouts: { recovery: 2 ** 31 } }, 'timeouts.recovery'],
    [{ shards: [pg], timeouts: { decision: 3e9 } }, 'timeouts.decision'],
    [{ shards: [pg], maxWait: 3e9 }, 'maxWait'],
    [{ shards: [pg], connectTimeout: 3e9 }, 'connectTimeout'],
    [{ shards: [pg], lockTimeout: 3e9 }, 'lockTimeout'],
    [{ shards: [pg], deadlockTimeout: 3e9 }, 'deadlockTimeout'],
    [{ shards: [pg], recovery: { intervalMs: 3e9 } }, 'recovery.intervalMs'],
    [{ shards: [pg], recovery: { graceMs: 3e9 } }, 'recovery.graceMs'],
  ])('refuses %j naming %s', (options, field) => {
    expect(problem(options).field).toBe(field)
  })

  it("takes the longest timer Node.js can hold, and an abort retention longer than that (an age, not a timer)", () => {
    const config = resolveClusterOptions({ shards: [pg], timeouts: { recovery: 2 ** 31 - 1 }, recovery: { abortRetentionMs: 90 * 86_400_000 } })
    expect(config.timeouts.recoveryMs).toBe(2 ** 31 - 1)
    expect(config.recovery.abortRetentionMs).toBe(90 * 86_400_000)
    expect(problem({ shards: [pg], timeouts: { recovery: 2 ** 31 } }).message).toMatch(/at most 2147483647 ms/)
  })

  it.each([
    ['postgres', 'postgres://u:p%zzw@localhost:5432/db', 'password'],
    ['mysql', 'mysql://u%@localhost:3306/db', 'user'],
    ['mysql', 'mariadb://u:p@localhost:3306/d%b', 'database'],
  ])('refuses a %s URL with a malformed percent-escape in its %s', (dialect, connection, part) => {
    const error = problem({ shards: [{ id: 's', dialect, connection }] })
    expect(error.field).toBe('shards[0].connection')
    expect(error.message).toContain(`URL's ${part}`)
    expect(error.message).not.toContain('p%zzw')
  })

  it('never puts a password in a message', () => {
    const error = problem({ shards: [{ ...pg, connection: 'postgres://u:secret@:bad' }] })
    expect(error.message).not.toContain('secret')
  })
})
