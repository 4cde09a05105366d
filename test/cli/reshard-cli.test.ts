import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, describe, expect, test } from 'vitest'
import { runCli } from '../../src/cli/run-cli.js'
import type { PlacementReport, ShardConfig } from '../../src/index.js'
import { hashShardKey, slotOfHash } from '../../src/sharding/index.js'
import { type ReshardBank, startReshardBank } from '../resharding/reshard-fixture.js'
import { sharedShards } from '../support/shared-cluster.js'
import type { CliRun } from './built-cli.js'
import { runInProcess } from './in-process-cli.js'

/** A stack frame line, as Node prints them: no run here may show one. */
const STACK_FRAME = /^\s+at .+[(:]\d+/m
const repo = fileURLToPath(new URL('../..', import.meta.url))

function rowsOf(report: PlacementReport): number {
  return report.tables.reduce((sum, t) => sum + t.rows, 0)
}

interface JobJson {
  jobId: string
  state: string
  done: number
  total: number
  rowsMoved: number
}

describe('shardtx reshard', () => {
  const dir = mkdtempSync(join(tmpdir(), 'shardtx-reshard-cli-'))
  const banks: ReshardBank[] = []
  afterEach(async () => {
    await Promise.all(banks.splice(0).map((b) => b.close()))
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  const shardtx = async (...args: string[]): Promise<CliRun> => {
    const run = await runInProcess(args, dir)
    expect(run.stdout + run.stderr).not.toMatch(STACK_FRAME)
    return run
  }
  /** The CLI's configs for a bank: the shard set before the job, and the one after. */
  const configs = (bank: ReshardBank, now: ShardConfig[], next: ShardConfig[]): { now: string; next: string } => {
    const common = {
      prefix: bank.prefix,
      logTable: bank.logTable,
      log: now[0]!.id,
      tables: { [bank.accounts]: { shardKey: 'id' }, [bank.currencies]: { reference: true } },
    }
    const tag = randomBytes(3).toString('hex')
    const files = { now: join(dir, `now-${tag}.json`), next: join(dir, `next-${tag}.json`) }
    writeFileSync(files.now, JSON.stringify({ ...common, shards: now }))
    writeFileSync(files.next, JSON.stringify({ ...common, shards: next }))
    return files
  }
  /** The real program (`shardtx ...args`) under a real SIGINT, sent once `ready` matches what it printed on `stream`. */
  const interruptedRun = async (args: string[], stream: 'stdout' | 'stderr', ready: RegExp): Promise<CliRun> => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: repo })
    const printed = { stdout: '', stderr: '' }
    let interrupted = false
    for (const name of ['stdout', 'stderr'] as const) {
      child[name].on('data', (chunk: Buffer) => {
        printed[name] += chunk.toString()
        if (name === stream && ready.test(printed[name]) && !interrupted) interrupted = child.kill('SIGINT')
      })
    }
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
    return { code: code ?? -1, ...printed }
  }
  /** A bank of `accounts` on pg-0 and my-0, and its config. */
  const pgAndMy = async (accounts: number): Promise<{ bank: ReshardBank; now: string; routed: ShardConfig[] }> => {
    const routed = [sharedShards('postgres')[0]!, sharedShards('mysql')[0]!]
    const bank = await startReshardBank(routed, routed, accounts)
    banks.push(bank)
    return { bank, routed, now: configs(bank, routed, routed).now }
  }
  const ndjson = (stdout: string): Record<string, unknown>[] =>
    stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>)

  test('plan, then start with --json events, then verify and status, adding a MariaDB shard to a PostgreSQL and a MariaDB one', async () => {
    const [pg0] = sharedShards('postgres')
    const [my0, my1] = sharedShards('mysql')
    const routed = [pg0!, my0!]
    const bank = await startReshardBank(routed, [...routed, my1!], 240)
    banks.push(bank)
    const { now, next } = configs(bank, routed, [...routed, my1!])

    const plan = await shardtx('reshard', 'plan', '--to', next, '--config', now, '--batch-size', '30')
    expect(plan.code).toBe(0)
    expect(plan.stdout).toMatch(/^added: my-1; removed: -$/m)
    expect(plan.stdout).toMatch(/^slots moving: [1-9]\d*$/m)
    expect(plan.stdout).toMatch(new RegExp(`^${bank.accounts} +pg-0 +my-1 +[1-9]\\d*$`, 'm'))
    expect(plan.stdout).toMatch(/^batches: \d+ of up to 30 rows$/m)
    expect(plan.stdout).toMatch(/^problems: none$/m)
    const planned = JSON.parse((await shardtx('reshard', 'plan', '--to', next, '--config', now, '--batch-size', '30', '--json')).stdout) as {
      plan: { added: string[]; batches: unknown[]; rows: { rows: number }[]; problems: string[] }
    }
    expect(planned.plan.added).toEqual(['my-1'])
    expect(planned.plan.batches.length).toBeGreaterThan(1)
    const rowsPlanned = planned.plan.rows.reduce((sum, r) => sum + r.rows, 0)
    // The dry run wrote nothing.
    expect((await shardtx('reshard', 'status', '--config', now)).stdout).toBe('no resharding job\n')

    const start = await shardtx('reshard', 'start', '--to', next, '--config', now, '--batch-size', '30', '--json')
    expect(start.code).toBe(0)
    const events = ndjson(start.stdout)
    const progress = events.slice(0, -1)
    expect(progress.length).toBe(planned.plan.batches.length + 1)
    for (const event of progress) expect(event).toMatchObject({ event: 'progress', job: { state: expect.any(String), total: planned.plan.batches.length } })
    expect(progress.map((e) => (e.job as JobJson).done)).toEqual([...Array(planned.plan.batches.length + 1).keys()])
    expect(events.at(-1)).toMatchObject({ event: 'result', stopped: 'done', job: { state: 'done', done: planned.plan.batches.length, rowsMoved: rowsPlanned } })
    expect(start.stderr).toContain('starting a resharding job to pg-0, my-0, my-1')

    // Every row on its owner, counted and checked by the CLI and read directly.
    const verify = await shardtx('reshard', 'verify', '--config', next)
    expect(verify.code).toBe(0)
    expect(verify.stdout).toMatch(/^epoch \d+: every row is on its owner$/m)
    expect(verify.stdout).toMatch(new RegExp(`^${bank.accounts} +240 +[0-9a-f]{8}$`, 'm'))
    const all = await bank.allAccounts()
    expect(all).toHaveLength(240)
    for (const a of all) expect(a.shardId).toBe(bank.cluster.shardFor(a.id))
    expect(all.filter((a) => a.shardId === 'my-1').length).toBeGreaterThan(0)

    const status = await shardtx('reshard', 'status', '--config', next)
    expect(status.code).toBe(0)
    expect(status.stdout).toMatch(new RegExp(`^job ${(events.at(-1)!.job as JobJson).jobId}: done, batch (\\d+)/\\1, ${rowsPlanned} rows moved$`, 'm'))
    expect(status.stdout).toMatch(/^to +my-0, my-1, pg-0$/m)

    // A row written around shardtx onto a shard that does not own it: verify exits 1 and names it.
    const stray = all.find((a) => a.shardId === 'my-1')!
    await bank.cluster.forShard('pg-0')(bank.accounts).insert({ id: stray.id, balance: 1, note: 'stray' })
    const misplaced = await shardtx('reshard', 'verify', '--config', next)
    expect(misplaced.code).toBe(1)
    expect(misplaced.stdout).toMatch(new RegExp(`^${bank.accounts} +pg-0 +my-1 +1 +${stray.id}$`, 'm'))
    const asJson = JSON.parse((await shardtx('reshard', 'verify', '--config', next, '--json')).stdout) as { placement: { misplaced: unknown[] } }
    expect(asJson.placement.misplaced).toEqual([{ table: bank.accounts, shardId: 'pg-0', owner: 'my-1', rows: 1, example: String(stray.id) }])
  })

  test('start --max-batches with plain progress lines, cancel, status, then reverse with a progress bar on a terminal', async () => {
    const [pg0, pg1] = sharedShards('postgres')
    const [my0] = sharedShards('mysql')
    const routed = [pg0!, pg1!, my0!]
    const bank = await startReshardBank(routed, routed, 200)
    banks.push(bank)
    const { now, next } = configs(bank, routed, [pg0!, my0!]) // removes pg-1
    const before = JSON.parse((await shardtx('reshard', 'verify', '--config', now, '--json')).stdout) as { placement: { tables: unknown[] } }

    const partial = await shardtx('reshard', 'start', '--to', next, '--config', now, '--batch-size', '20', '--max-batches', '2')
    expect(partial.code).toBe(0)
    expect(partial.stdout).toMatch(/stopped after --max-batches at batch 2\/\d+, still running/)
    // stderr is no terminal here: plain lines, the first and the last at least.
    expect(partial.stderr).toMatch(/^running: batch 0\/\d+, 0 rows moved, \d+ left$/m)
    expect(partial.stderr).toMatch(/^running: batch 2\/\d+, \d+ rows moved, \d+ left, [\d,]+ rows\/s, ETA \S+$/m)

    const cancel = await shardtx('reshard', 'cancel', '--config', now)
    expect(cancel.code).toBe(0)
    expect(cancel.stdout).toMatch(/^job \w+: cancelled, batch 2\//m)
    const status = JSON.parse((await shardtx('reshard', 'status', '--config', now, '--json')).stdout) as { job: JobJson }
    expect(status.job).toMatchObject({ state: 'cancelled', done: 2 })
    const midway = JSON.parse((await shardtx('reshard', 'verify', '--config', now, '--json')).stdout) as { placement: { misplaced: unknown[]; tables: unknown[] } }
    expect(midway.placement).toMatchObject({ misplaced: [], tables: before.placement.tables })

    // reverse, with stderr a terminal: one bar redrawn in place.
    let stdout = ''
    let stderr = ''
    const code = await runCli(['reshard', 'reverse', '--config', now], {
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: (text: string) => (stderr += text), isTTY: true },
      cwd: dir,
    })
    expect(code).toBe(0)
    // The bar fills as the two done batches go back.
    expect(stderr).toMatch(/\r\[\.{30}\] reversing: batch 2\/\d+/)
    expect(stderr).toMatch(/\r\[#{15}\.{15}\] reversing: batch 1\/\d+/)
    expect(stderr).toMatch(/\r\[#{30}\] reversed: batch 0\/\d+, \d+ rows moved(, [\d,]+ rows\/s)?\u001b\[K\n$/)
    expect(stdout).toMatch(/^job \w+ reversed: \d+ rows moved in all; the topology is my-0, pg-0, pg-1 again$/m)
    const after = JSON.parse((await shardtx('reshard', 'verify', '--config', now, '--json')).stdout) as { placement: { misplaced: unknown[]; tables: unknown[] } }
    expect(after.placement).toMatchObject({ misplaced: [], tables: before.placement.tables })

    // Nothing left to cancel: exit 1 and why.
    const again = await shardtx('reshard', 'cancel', '--config', now)
    expect([again.code, again.stderr]).toEqual([1, expect.stringContaining('is reversed: nothing to cancel')])
  })

  test('Ctrl-C stops start at a batch boundary with exit 130, and start resumes the job', async () => {
    const [pg0] = sharedShards('postgres')
    const [my0, my1] = sharedShards('mysql')
    const routed = [pg0!, my0!]
    const bank = await startReshardBank(routed, [...routed, my1!], 200)
    banks.push(bank)
    const { now, next } = configs(bank, routed, [...routed, my1!])

    // The real program under a real signal, sent once the first batch is done.
    const { code, stdout, stderr } = await interruptedRun(
      ['reshard', 'start', '--to', next, '--config', now, '--batch-size', '10', '--duty-cycle', '0.2', '--json'],
      'stdout',
      /"done":1,/,
    )
    expect(stderr).toContain('interrupted: stopping at the next batch boundary')
    expect(code).toBe(130)
    const events = ndjson(stdout)
    const result = events.at(-1) as { event: string; stopped: string; job: JobJson }
    expect(result).toMatchObject({ event: 'result', stopped: 'interrupted', job: { state: 'running' } })
    expect(result.job.done).toBeGreaterThanOrEqual(1)
    expect(result.job.done).toBeLessThan(result.job.total)

    const resumed = await shardtx('reshard', 'start', '--to', next, '--config', now, '--json')
    expect(resumed.code).toBe(0)
    expect(resumed.stderr).toContain(`resuming job ${result.job.jobId} (running) at batch ${result.job.done}/${result.job.total}`)
    expect(ndjson(resumed.stdout).at(-1)).toMatchObject({ stopped: 'done', job: { jobId: result.job.jobId, state: 'done' } })
    expect((await shardtx('reshard', 'verify', '--config', next)).code).toBe(0)
  })

  test('verify page by page: --json saved and read back by --against, Ctrl-C with --save exits 130, --resume finishes it, a changed row fails --against', async () => {
    const { bank, now } = await pgAndMy(300)
    const file = (name: string): string => join(dir, `${name}-${randomBytes(3).toString('hex')}.json`)

    // --json output, saved as it is, is a report --against reads.
    const first = await shardtx('reshard', 'verify', '--config', now, '--page-size', '7', '--json')
    expect(first.code).toBe(0)
    const before = JSON.parse(first.stdout) as { placement: PlacementReport }
    expect(before.placement).toMatchObject({ complete: true, comparable: true, misplaced: [], tables: [{ table: bank.accounts, rows: 300 }] })
    expect(first.stderr).toContain('reading every row of the declared sharded tables on 2 shards, 7 rows a page…')
    const saved = file('before')
    writeFileSync(saved, first.stdout)

    // The real program under a real signal, once it printed its first progress line: stopped at a page boundary, saved.
    const progress = file('progress')
    const { code, stdout, stderr } = await interruptedRun(['reshard', 'verify', '--config', now, '--page-size', '1', '--save', progress], 'stderr', /^verify: /m)
    expect(stderr).toContain('interrupted: stopping at the next page boundary')
    expect(code).toBe(130)
    expect(stdout).toMatch(new RegExp(`^stopped after \\d+ pages? \\(\\d+ rows? read\\), before ${bank.accounts} on (my-0|pg-0): resume with shardtx reshard verify --resume ${progress}$`, 'm'))
    const stopped = (JSON.parse(readFileSync(progress, 'utf8')) as { placement: PlacementReport }).placement
    expect(stopped).toMatchObject({ complete: false, comparable: false, cursor: { table: bank.accounts } })
    expect(rowsOf(stopped)).toBeLessThan(300)
    const copy = file('stopped')
    copyFileSync(progress, copy)

    // --resume goes on from the file, keeps saving to it, and compares equal with the first run.
    const resumed = await shardtx('reshard', 'verify', '--config', now, '--resume', progress, '--against', saved, '--page-size', '50')
    expect(resumed.code).toBe(0)
    expect(resumed.stderr).toMatch(new RegExp(`^resuming at ${bank.accounts} on (my-0|pg-0), after ${stopped.pages} pages? \\(${rowsOf(stopped)} rows? read\\)…$`, 'm'))
    expect(resumed.stdout).toMatch(/^epoch \d+: every row is on its owner$/m)
    expect(resumed.stdout).toContain(`against ${saved}: the same rows and checksums in every table and slot range`)
    const finished = (JSON.parse(readFileSync(progress, 'utf8')) as { placement: PlacementReport }).placement
    expect(finished).toMatchObject({ complete: true, comparable: true, tables: before.placement.tables })
    expect(finished.cursor).toBeUndefined()
    expect((await shardtx('reshard', 'verify', '--config', now, '--against', progress)).code).toBe(0)
    const done = await shardtx('reshard', 'verify', '--config', now, '--resume', progress)
    expect([done.code, done.stderr]).toEqual([2, expect.stringContaining(`--resume: ${progress} holds a complete report: nothing to resume`)])

    // A cursor of another table set, files that are not reports, --against the file it saves to: exit 2.
    const other = JSON.parse(readFileSync(copy, 'utf8')) as { placement: PlacementReport }
    other.placement.cursor!.scope.tables = [{ name: 'orders', keyColumns: ['id'] }]
    writeFileSync(copy, JSON.stringify(other))
    const foreign = await shardtx('reshard', 'verify', '--config', now, '--resume', copy)
    expect([foreign.code, foreign.stderr]).toEqual([2, expect.stringMatching(/--resume \S+ placement\.cursor\.scope\.tables: the cursor was taken over the sharded tables orders\(id\)/)])
    const notJson = file('not-json')
    writeFileSync(notJson, 'epoch 4: every row is on its owner')
    for (const [args, message] of [
      [['--against', join(dir, 'missing.json')], /--against: no such file: .*missing\.json/],
      [['--against', notJson], /--against: .* is not JSON/],
      [['--against', saved, '--save', saved], /--against .* is the file this run saves to/],
      [['--save', join(dir, 'no-dir', 'x.json')], /--save: cannot write .*x\.json/],
    ] as const) {
      const run = await shardtx('reshard', 'verify', '--config', now, ...args)
      expect([run.code, run.stderr], args.join(' ')).toEqual([2, expect.stringMatching(message)])
    }

    // One balance changed around shardtx: exit 1, naming the table and the slot range of that row.
    const changed = 123
    await bank.cluster.forShard(bank.cluster.shardFor(changed))(bank.accounts).where({ id: changed }).update({ balance: 7 })
    const slot = slotOfHash(hashShardKey(changed))
    const range = `${slot - (slot % 1024)}-${slot - (slot % 1024) + 1023}`
    const differs = await shardtx('reshard', 'verify', '--config', now, '--against', saved)
    expect(differs.code).toBe(1)
    expect(differs.stdout).toContain(`against ${saved} (before) this run (after): 1 slot range differs`)
    expect(differs.stdout).toMatch(new RegExp(`^${bank.accounts} +${range} +1 +1 +[0-9a-f]{8} +[0-9a-f]{8}$`, 'm'))
    const asJson = JSON.parse((await shardtx('reshard', 'verify', '--config', now, '--against', saved, '--json')).stdout) as {
      comparison: { equal: boolean; differences: { table: string; first: number; last: number }[] }
    }
    expect(asJson.comparison).toMatchObject({ equal: false, differences: [{ table: bank.accounts, first: slot - (slot % 1024), last: slot - (slot % 1024) + 1023 }] })
  })

  test('a --to config is masked like --config: its password never shows, even where a message quotes a value', async () => {
    const { now } = await pgAndMy(10)
    const secret = `Pw${randomBytes(8).toString('hex')}`
    const to = join(dir, 'secret-to.json')
    // The dialect check quotes what it got; the password is the same text, in a URL, so the redactor knows it.
    writeFileSync(
      to,
      JSON.stringify({
        shards: [
          { id: 'pg-0', dialect: secret, connection: 'postgres://unused@127.0.0.1:1/app' },
          { id: 'my-0', dialect: 'mysql', connection: 'mysql://unused@127.0.0.1:1/app' },
          { id: 'far', dialect: 'postgres', connection: `postgres://app:${secret}@127.0.0.1:1/app` },
        ],
      }),
    )
    for (const args of [
      ['reshard', 'plan', '--to', to],
      ['reshard', 'start', '--to', to, '--json'],
      ['topology', 'set', '--to', to],
    ]) {
      const run = await shardtx(...args, '--config', now)
      expect(run.code, args.join(' ')).toBe(2)
      expect(run.stderr, args.join(' ')).toMatch(/dialect: shard pg-0 is postgres in this process's shards, not \*\*\*/)
      expect(run.stdout + run.stderr, args.join(' ')).not.toContain(secret)
    }
  })
})
