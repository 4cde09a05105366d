import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import {
  LocalClusterError,
  MissingServerBinaryError,
  UnsupportedByBackendError,
  startLocalCluster,
  type LocalClusterOptions,
} from '../../src/testing/index.js'
import { ShardTxError } from '../../src/errors.js'

// A private TMPDIR (os.tmpdir() reads it on every call) shows what a failed
// start leaves behind, undisturbed by other clusters on the machine.
let privateTmp: string
const originalTmpdir = process.env.TMPDIR
beforeEach(() => {
  privateTmp = mkdtempSync(join(tmpdir(), 'bad-input-'))
  chmodSync(privateTmp, 0o755) // the postgres user must be able to enter it
  process.env.TMPDIR = privateTmp
})
afterEach(() => {
  if (originalTmpdir === undefined) delete process.env.TMPDIR
  else process.env.TMPDIR = originalTmpdir
  rmSync(privateTmp, { recursive: true, force: true })
})

async function failure(options: LocalClusterOptions): Promise<LocalClusterError> {
  const error = await startLocalCluster(options).then(
    () => expect.unreachable('startLocalCluster should have failed'),
    (error: unknown) => error,
  )
  expect(error).toBeInstanceOf(LocalClusterError)
  expect(error).toBeInstanceOf(ShardTxError)
  return error as LocalClusterError
}

describe('startLocalCluster refuses bad options before starting anything', () => {
  test.each([
    ['an unknown backend', { postgres: 1, backend: 'docker' as never }, /backend.*unknown backend "docker"/],
    ['an unknown backend in SHARDTX_TEST_BACKEND', { postgres: 1, env: { SHARDTX_TEST_BACKEND: 'podman' } }, /SHARDTX_TEST_BACKEND.*"podman"/],
    ['a negative count', { postgres: -1, mysql: 1 }, /postgres: must be an integer ≥ 0, got -1/],
    ['a fractional count', { mysql: 1.5 }, /mysql: must be an integer ≥ 0, got 1.5/],
    ['a count that is not a number', { postgres: '2' as never }, /postgres: must be an integer ≥ 0, got "2"/],
    ['zero servers', { postgres: 0, mysql: 0 }, /at least one server/],
    ['no servers asked for', {}, /at least one server/],
    ['zero databases per server', { postgres: 1, databasesPerServer: 0 }, /databasesPerServer: must be an integer ≥ 1/],
    ['an unknown option', { postgres: 1, mysqll: 1 } as never, /mysqll: unknown option/],
    ['faults that is not a boolean', { postgres: 1, faults: 'yes' as never }, /faults: must be a boolean/],
  ])('%s', async (_, options, message) => {
    const error = await failure(options as LocalClusterOptions)
    expect(error.code).toBe('LOCAL_CLUSTER_OPTIONS')
    expect(error.message).toMatch(message)
  })
})

describe('missing server binaries name the Debian package to install', () => {
  test.each([
    ['postgres', { postgres: 1 }, 'postgresql'],
    ['mysql', { mysql: 1 }, 'mariadb-server'],
  ])('%s', async (_, options, packageName) => {
    const error = await failure({ ...options, searchPath: ['/nonexistent/bin'] })
    expect(error).toBeInstanceOf(MissingServerBinaryError)
    expect(error).toMatchObject({ code: 'LOCAL_CLUSTER_BINARY_MISSING', packageName })
    expect(error.message).toContain(`apt-get install ${packageName}`)
    expect(error.message).toContain('/nonexistent/bin')
    expect(readdirSync(privateTmp)).toEqual([])
  })
})

test('a server that fails to start is reported with its log, and nothing is left behind', async () => {
  const error = await failure({ postgres: 1, durable: false, serverArgs: { postgres: ['-c', 'no_such_setting=1'] } })
  expect(error.code).toBe('LOCAL_CLUSTER_START')
  expect(error.message).toMatch(/exited during start-up/)
  expect(error.message).toMatch(/unrecognized configuration parameter "no_such_setting"/)
  expect(error.message).toContain(join(privateTmp, 'shardtx-'))
  expect(readdirSync(privateTmp)).toEqual([])
})

describe('the env backend', () => {
  const env = {
    SHARDTX_TEST_BACKEND: 'env',
    SHARDTX_TEST_POSTGRES_URLS: 'postgres://app:s%40cret@db0.example:6432/orders, postgresql://app@db1.example/orders',
    SHARDTX_TEST_MYSQL_URLS: 'mysql://root:pw@my0.example/shardtx',
  }

  test('turns URLs into shard configs, in order', async () => {
    const local = await startLocalCluster({ postgres: 2, mysql: 1, env })
    expect(local.backend).toBe('env')
    expect(local.shards).toEqual([
      { id: 'pg-0', dialect: 'postgres', connection: { host: 'db0.example', port: 6432, user: 'app', password: 's@cret', database: 'orders' } },
      { id: 'pg-1', dialect: 'postgres', connection: { host: 'db1.example', port: 5432, user: 'app', password: '', database: 'orders' } },
      { id: 'my-0', dialect: 'mysql', connection: { host: 'my0.example', port: 3306, user: 'root', password: 'pw', database: 'shardtx' } },
    ])
    expect(local.server('pg-1')).toMatchObject({ host: 'db1.example', port: 5432, pid: undefined, dataDir: undefined })
    await local.destroy()
  })

  test('cannot kill, stop or restart, and rejects unknown shard ids', async () => {
    const local = await startLocalCluster({ postgres: 1, env })
    for (const operation of ['kill', 'stop', 'restart'] as const) {
      const error = await local[operation]('pg-0').catch((error: unknown) => error)
      expect(error).toBeInstanceOf(UnsupportedByBackendError)
      expect(error).toMatchObject({ code: 'LOCAL_CLUSTER_UNSUPPORTED', backend: 'env', operation })
    }
    for (const operation of ['kill', 'restart'] as const) {
      await expect(local[operation]('pg-9')).rejects.toMatchObject({
        code: 'LOCAL_CLUSTER_UNKNOWN_SHARD',
        message: expect.stringMatching(/unknown shard id "pg-9"; this cluster has pg-0/),
      })
    }
    expect(() => local.server('my-0')).toThrow(/unknown shard id "my-0"/)
    await local.destroy()
  })

  test('needs as many URLs as shards asked for', async () => {
    const error = await failure({ postgres: 3, env })
    expect(error.message).toMatch(/3 postgres shard\(s\) asked for, but SHARDTX_TEST_POSTGRES_URLS lists 2/)
  })
})
