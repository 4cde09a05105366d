import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Cluster, createCluster, type ShardConfig } from '../../src/index.js'
import { newTransactionId } from '../../src/protocol/ids/transaction-id.js'
import { connectPostgres } from '../support/raw-connections.js'
import { sharedShards } from '../support/shared-cluster.js'
import { buildCli, type BuiltCli, type CliRun } from './built-cli.js'

const SHARDS = ['pg-0', 'pg-1', 'my-0', 'my-1']
/** A stack frame line, as Node prints them: user mistakes must never show one. */
const STACK_FRAME = /^\s+at .+[(:]\d+/m

describe('the shardtx CLI, built and run as a program', () => {
  const s = randomBytes(4).toString('hex')
  const prefix = `c${s}_`
  const logTable = `log_${s}`
  const dir = mkdtempSync(join(tmpdir(), 'shardtx-cli-'))
  const config = join(dir, 'shardtx.config.json')
  let cli: BuiltCli
  let cluster: Cluster

  /** Runs the CLI with the test's config; no run may print a stack unless --verbose. */
  const shardtx = async (...args: string[]): Promise<CliRun> => {
    const result = await cli.run(args.includes('--config') ? args : [...args, '--config', config], { cwd: dir })
    if (!args.includes('--verbose')) expect(result.stdout + result.stderr).not.toMatch(STACK_FRAME)
    return result
  }
  const json = (run: CliRun): Record<string, unknown> => JSON.parse(run.stdout) as Record<string, unknown>

  beforeAll(async () => {
    writeFileSync(config, JSON.stringify({ shards: sharedShards(), prefix, logTable }))
    cluster = createCluster({ shards: sharedShards(), prefix, logTable, recovery: false })
    cli = await buildCli()
  }, 180_000)

  afterAll(async () => {
    await Promise.all(
      SHARDS.map(async (id) => {
        for (const t of [logTable, `${logTable}_migrations`, `${logTable}_migrations_lock`, `t_${s}`, `mig_${s}`, `mig_${s}_lock`]) {
          await cluster.forShard(id).schema.dropTableIfExists(t)
        }
      }),
    )
    await cluster.close()
    cli?.remove()
    rmSync(dir, { recursive: true, force: true })
  })

  describe('as a program', () => {
    it('runs from the path package.json `bin` names, with a shebang', () => {
      expect(readFileSync(cli.bin, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node')
    })

    it('prints help, and exits 2 without a stack on usage and config mistakes (more in cli-usage.test.ts)', async () => {
      const empty = mkdtempSync(join(tmpdir(), 'shardtx-cli-empty-'))
      try {
        writeFileSync(join(empty, 'invalid.json'), JSON.stringify({ shards: [] }))
        // A config whose function's promise waits on nothing: Node would end with code 13 and say nothing.
        writeFileSync(join(empty, 'never.mjs'), 'export default () => new Promise(() => {})')
        const [help, unknown, asJson, none, invalid, never] = await Promise.all([
          cli.run(['--help'], { cwd: empty }),
          cli.run(['stauts'], { cwd: empty }),
          cli.run(['stauts', '--json'], { cwd: empty }),
          cli.run(['status'], { cwd: empty }),
          cli.run(['status', '--config', 'invalid.json'], { cwd: empty }),
          cli.run(['status', '--config', 'never.mjs'], { cwd: empty }),
        ])
        expect([never!.code, never!.stderr]).toEqual([2, expect.stringContaining('returned a promise that can never settle')])
        expect([help!.code, help!.stdout]).toEqual([0, expect.stringContaining('Usage: shardtx <command>')])
        expect([unknown!.code, unknown!.stderr]).toEqual([2, expect.stringContaining('unknown command "stauts"')])
        expect(json(asJson!)).toEqual({ error: { code: 'USAGE', message: expect.stringContaining('unknown command'), exitCode: 2 } })
        expect([none!.code, none!.stderr]).toEqual([2, expect.stringContaining('no config file: pass --config')])
        expect([invalid!.code, invalid!.stderr]).toEqual([2, expect.stringContaining('shards: must list at least one shard')])
        for (const run of [unknown!, none!, invalid!]) expect(run.stderr).not.toMatch(STACK_FRAME)
      } finally {
        rmSync(empty, { recursive: true, force: true })
      }
    })
  })

  describe('route', () => {
    it('routes like the library, finds a JS config in the working directory, and reads numbers with --int / --bigint', async () => {
      const jsDir = mkdtempSync(join(tmpdir(), 'shardtx-cli-js-'))
      try {
        // A JS config may default-export a function (async too) returning the options.
        writeFileSync(join(jsDir, 'shardtx.config.mjs'), `export default async () => (${JSON.stringify({ shards: sharedShards() })})\n`)
        const keys = ['user:1', 'user:2', 'order:77', 'äöü', '42']
        const run = await cli.run(['route', ...keys, '--json'], { cwd: jsDir })
        expect(run.code).toBe(0)
        expect(json(run).routes).toEqual(keys.map((key) => ({ key, type: 'string', shardId: cluster.shardFor(key) })))
        // '042' as a string is its own key; as an integer it is 42, which routes like 42n and '42'.
        const [single, asInt, asBigint] = await Promise.all([
          cli.run(['route', 'user:1'], { cwd: jsDir }),
          cli.run(['route', '--int', '--json', '042', '--', '-5'], { cwd: jsDir }),
          cli.run(['route', '--bigint', '12345678901234567890'], { cwd: jsDir }),
        ])
        expect(single!.stdout).toBe(`${cluster.shardFor('user:1')}\n`)
        expect(json(asInt!).routes).toEqual([
          { key: '042', type: 'int', shardId: cluster.shardFor(42) },
          { key: '-5', type: 'int', shardId: cluster.shardFor(-5) },
        ])
        expect(asBigint!.stdout).toBe(`${cluster.shardFor(12345678901234567890n)}\n`)
      } finally {
        rmSync(jsDir, { recursive: true, force: true })
      }
    })
  })

  describe('status, migrate, in-doubt, resolve, recover', () => {
    it('reports a missing log table, creates it, then reports every shard ready', async () => {
      const before = await shardtx('status', '--json')
      expect(before.code).toBe(1)
      expect(json(before).shards).toContainEqual(expect.objectContaining({ shardId: 'pg-0', logShard: true, logTable: false }))

      const migrate = await shardtx('migrate')
      expect([migrate.code, migrate.stdout]).toEqual([0, `log table ${logTable} is ready on pg-0\n`])

      const [after, text] = await Promise.all([shardtx('status', '--json'), shardtx('status', '--quiet')])
      expect(after!.code).toBe(0)
      expect(after!.stderr).toContain('checking 4 shards')
      const shards = json(after!).shards as Record<string, unknown>[]
      expect(shards.map((x) => [x.shardId, x.reachable, x.twoPhaseReady, x.inDoubt, x.logTable, x.problems])).toEqual([
        ['pg-0', true, true, 0, true, []],
        ['pg-1', true, true, 0, undefined, []],
        ['my-0', true, true, 0, undefined, []],
        ['my-1', true, true, 0, undefined, []],
      ])
      expect(shards.map((x) => x.serverVersion)).toEqual([
        expect.stringMatching(/^PostgreSQL \d+/),
        expect.stringMatching(/^PostgreSQL \d+/),
        expect.stringMatching(/MariaDB/),
        expect.stringMatching(/MariaDB/),
      ])
      expect([text!.code, text!.stderr]).toEqual([0, ''])
      expect(text!.stdout).toMatch(/^pg-0 +postgres +yes +PostgreSQL \d+\.\d+ +ready +0 +present$/m)
    })

    it('lists in-doubt branches, settles one by hand and the other by recovery', async () => {
      await cluster.migrate()
      // Two abandoned PostgreSQL branches of ours: their coordinators' deadlines passed an hour ago.
      const [byHand, byRecovery] = [newTransactionId(Date.now() - 3_600_000, 1000), newTransactionId(Date.now() - 3_600_000, 1000)]
      const client = await connectPostgres(sharedShards().find((x) => x.id === 'pg-1')!)
      try {
        for (const txId of [byHand, byRecovery]) await client.query(`BEGIN; PREPARE TRANSACTION '${prefix}${txId}.pg-1'`)
      } finally {
        await client.end()
      }

      const [listed, table, refused] = await Promise.all([
        shardtx('in-doubt', '--json'),
        shardtx('in-doubt'),
        shardtx('resolve', byHand, 'commit'),
      ])
      expect(listed!.code).toBe(1)
      expect((json(listed!).branches as { txId: string }[]).map((b) => b.txId).sort()).toEqual([byHand, byRecovery].sort())
      expect(table!.stdout).toMatch(new RegExp(`^${byHand} +pg-1 +\\S+ +none yet`, 'm'))
      expect([refused!.code, refused!.stderr]).toEqual([1, expect.stringContaining('has no commit record')])
      const aborted = await shardtx('resolve', byHand, 'abort', '--json')
      expect(aborted.code).toBe(0)
      expect(json(aborted)).toMatchObject({ txId: byHand, decision: 'abort', rolledBack: [{ txId: byHand, shardId: 'pg-1' }] })

      const recovered = await shardtx('recover', '--json')
      expect(recovered.code).toBe(0)
      expect(json(recovered)).toMatchObject({ rolledBack: [{ txId: byRecovery, shardId: 'pg-1' }], failed: [], unreachable: [] })
      const none = await shardtx('in-doubt')
      expect([none.code, none.stdout]).toEqual([0, 'no in-doubt branches\n'])
    })
  })

  describe('migrate --shards', () => {
    it('runs the migrations of a folder on every shard, then stops with exit 1 at one that fails on MariaDB', async () => {
      const migrations = join(dir, 'migrations')
      mkdirSync(migrations)
      writeFileSync(
        join(migrations, '001_create.mjs'),
        `export const up = (knex) => knex.schema.createTable('t_${s}', (t) => { t.integer('id').primary() })
         export const down = (knex) => knex.schema.dropTable('t_${s}')\n`,
      )
      // --directory defaults to ./migrations in the working directory.
      const ok = await shardtx('migrate', '--shards', '--table', `mig_${s}`)
      expect(ok.code).toBe(0)
      expect(ok.stdout).toMatch(/^my-1 +migrated +0 +1 +0 +001_create\.mjs$/m)
      expect(ok.stderr).toContain('my-1: 001_create.mjs done')

      writeFileSync(
        join(migrations, '002_pg_only.mjs'),
        `export const up = (knex) => knex.raw('alter table t_${s} add column labels text[]')
         export const down = () => {}\n`,
      )
      const failed = await shardtx('migrate', '--shards', '--table', `mig_${s}`, '--json')
      expect(failed.code).toBe(1)
      const report = json(failed) as { error: { code: string }; shards: Record<string, unknown>[] }
      expect(report.error.code).toBe('MIGRATION_FAILED')
      expect(report.shards.map((x) => [x.shardId, x.state, x.current, x.pending])).toEqual([
        ['pg-0', 'migrated', '002_pg_only.mjs', []],
        ['pg-1', 'migrated', '002_pg_only.mjs', []],
        ['my-0', 'failed', '001_create.mjs', ['002_pg_only.mjs']],
        ['my-1', 'failed', '001_create.mjs', ['002_pg_only.mjs']],
      ])
      expect(report.shards[2]!.error).toMatchObject({ migration: '002_pg_only.mjs', mayBePartial: true, cause: { code: 'ER_PARSE_ERROR' } })
      expect(failed.stderr).toContain('error: migrations stopped: my-0 failed 002_pg_only.mjs, my-1 failed 002_pg_only.mjs')
    })
  })

  describe('secrets', () => {
    it('never prints a password, whatever the command and however the connection fails', async () => {
      const password = 'Pl4nted@S3cret!'
      const encoded = encodeURIComponent(password)
      // PostgreSQL trusts any password here; MariaDB refuses this one; port 1 refuses connections.
      const url = (shard: ShardConfig): string => {
        const c = shard.connection as { host: string; port: number; user: string; database: string }
        return `${shard.dialect}://${c.user}:${encoded}@${c.host}:${c.port}/${c.database}`
      }
      const secretConfig = join(dir, 'secret.config.json')
      writeFileSync(
        secretConfig,
        JSON.stringify({
          shards: [
            ...sharedShards().map((shard) => ({ ...shard, connection: url(shard) })),
            { id: 'gone', dialect: 'postgres', connection: `postgres://app:${encoded}@127.0.0.1:1/app` },
          ],
          prefix,
          logTable,
        }),
      )
      const commands: [string[], number][] = [
        [['status'], 3],
        [['in-doubt'], 3],
        [['recover', '--json', '--verbose'], 3],
        [['resolve', newTransactionId(Date.now() - 3_600_000, 1000), 'abort'], 3],
        [['route', 'user:1'], 0],
        [['migrate'], 0],
        [['migrate', '--shards', '--directory', dir, '--table', `mig_${s}`], 3],
        [['migrate', '--shards', '--directory', dir, '--table', `mig_${s}`, '--verbose', '--json'], 3],
        // The one message that echoes what it was given: the redactor must catch the password in it.
        [['resolve', password, 'abort'], 2],
      ]
      const runs = await Promise.all(commands.map(([args]) => shardtx(...args, '--config', secretConfig)))
      runs.forEach((run, i) => {
        const what = commands[i]![0].join(' ')
        expect(run.code, what).toBe(commands[i]![1])
        expect(run.stdout + run.stderr, what).not.toContain('Pl4nted')
      })
      expect(runs[0]!.stdout).toContain("my-0: unreachable: Access denied for user 'root'")
      expect(runs[0]!.stdout).toContain('gone: unreachable: connect ECONNREFUSED 127.0.0.1:1')
      expect(runs.at(-1)!.stderr).toContain('"***" is not a shardtx transaction id')
    })
  })
})
