import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { crashChild } from '../helpers/crash-child.js'
import { type Cluster, createCluster, type StepEvent } from '../../src/index.js'
import { type LocalCluster, startLocalCluster } from '../../src/testing/index.js'
import type { MoveLogChildPlan } from './move-log-child.js'

const CHILD = fileURLToPath(new URL('./move-log-child.ts', import.meta.url))
const TABLE = 'accounts'

/** Both directions over one set of servers: pg-0, pg-1, my-0. */
const DIRECTIONS = [
  { from: 'pg-0', to: 'my-0' },
  { from: 'my-0', to: 'pg-0' },
] as const

/** Where the mover is SIGKILLed: before the n-th step of a name (its own steps, then its transaction's protocol steps). */
const CRASH_POINTS: { name: string; pauseAt: MoveLogChildPlan['pauseAt']; moved: boolean }[] = [
  { name: 'before the log tables are made on the new shard', pauseAt: { step: 'tables', nth: 1 }, moved: false },
  { name: 'tables made, before the fenced step', pauseAt: { step: 'move', nth: 1 }, moved: false },
  { name: 'every fence held and the history copied, preparing', pauseAt: { step: 'prepare', nth: 1 }, moved: false },
  { name: 'every branch prepared, before the decision', pauseAt: { step: 'decide', nth: 1 }, moved: false },
  { name: 'decided, before any COMMIT PREPARED', pauseAt: { step: 'commit', nth: 1 }, moved: true },
  { name: 'decided, one branch committed', pauseAt: { step: 'commit', nth: 2 }, moved: true },
]

let local: LocalCluster
beforeAll(async () => {
  local = await startLocalCluster({ postgres: 2, mysql: 1, durable: false })
}, 120_000)
afterAll(() => local?.destroy())

interface Setup {
  options: { shards: LocalCluster['shards']; log: string; prefix: string; logTable: string; recovery: { enabled: false; graceMs: 0 } }
  table: string
  app: Cluster
  clusters: Cluster[]
}

async function setUp(from: string, name: string): Promise<Setup> {
  const suffix = `${name}_${Math.random().toString(36).slice(2, 6)}`
  const options = { shards: local.shards, log: from, prefix: `ml${suffix}_`, logTable: `mlog_${suffix}`, recovery: { enabled: false, graceMs: 0 } } as const
  const app = createCluster(options)
  const table = TABLE + suffix
  await app.migrate()
  for (const s of local.shards) {
    await app.forShard(s.id).schema.createTable(table, (t) => {
      t.integer('id').primary()
      t.integer('balance').notNullable()
    })
    await app.forShard(s.id)(table).insert({ id: 1, balance: 100 })
  }
  await app.transaction(async () => {}) // epoch 1
  return { options, table, app, clusters: [app] }
}

const transfer = (c: Cluster, table: string, from: string, to: string) =>
  c.transaction(
    async (tx) => {
      await tx.forShard(from)(table).where({ id: 1 }).decrement('balance', 1)
      await tx.forShard(to)(table).where({ id: 1 }).increment('balance', 1)
    },
    { retry: { attempts: 30, backoff: 20 } },
  )

/**
 * After recovery: nothing prepared, every fence row at one epoch naming one log,
 * the stored topology agreeing (E: no row on the new log; E+1: the pointer on the
 * old log and the history on the new one), and the accounts' total kept.
 */
async function expectSettled(s: Setup, from: string, to: string): Promise<'moved' | 'not moved'> {
  const recoverer = createCluster({ ...s.options, topology: 'follow' })
  s.clusters.push(recoverer)
  for (let i = 0; i < 40 && (await recoverer.inDoubt()).length > 0; i++) {
    await recoverer.recover()
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  expect(await recoverer.inDoubt()).toEqual([])
  const fenceTable = `${s.options.logTable}_fence`
  const fences = await Promise.all(local.shards.map(async (sh) => (await s.app.forShard(sh.id)(fenceTable).where({ shard_id: sh.id }).first()) as { epoch: number; log_shard: string }))
  const kinds = new Set(fences.map((f) => `${Number(f.epoch)}/${f.log_shard}`))
  expect([...kinds]).toHaveLength(1)
  const moved = Number(fences[0]!.epoch) === 2
  expect(fences[0]!.log_shard).toBe(moved ? to : from)
  const topologyTable = `${s.options.logTable}_topology`
  const onOld = (await s.app.forShard(from)(topologyTable).select('epoch', 'log_shard').orderBy('epoch')) as { epoch: number; log_shard: string }[]
  const onNew = (await s.app.forShard(to)(topologyTable).select('epoch', 'log_shard').orderBy('epoch').catch(() => [])) as { epoch: number; log_shard: string }[]
  if (moved) {
    expect(onOld.map((r) => [Number(r.epoch), r.log_shard])).toEqual([
      [1, from],
      [2, to],
    ])
    expect(onNew.map((r) => [Number(r.epoch), r.log_shard])).toEqual([
      [1, from],
      [2, to],
    ])
  } else {
    expect(onOld.map((r) => [Number(r.epoch), r.log_shard])).toEqual([[1, from]])
    expect(onNew).toEqual([])
  }
  expect((await recoverer.topology()).logShardId).toBe(moved ? to : from)
  await transfer(s.app, s.table, 'pg-1', to)
  const total = (await Promise.all(local.shards.map(async (sh) => Number((await s.app.forShard(sh.id)(s.table).where({ id: 1 }).first()).balance)))).reduce((a, b) => a + b, 0)
  expect(total).toBe(100 * local.shards.length)
  return moved ? 'moved' : 'not moved'
}

async function tearDown(s: Setup): Promise<void> {
  await Promise.all(local.shards.map((sh) => s.app.forShard(sh.id).schema.dropTableIfExists(s.table)))
  await Promise.all(s.clusters.map((c) => c.close()))
}

describe.each(DIRECTIONS)('crash matrix: moving the log from $from to $to', ({ from, to }) => {
  it.each(CRASH_POINTS.map((p, i) => [p.name, p, i] as const))('mover SIGKILLed %s: after recovery one epoch everywhere, nothing prepared, totals kept', async (_, point, i) => {
    const s = await setUp(from, `c${i}`)
    try {
      const crashed = await crashChild(CHILD, 'SHARDTX_MOVE_LOG_PLAN', { ...s.options, to, pauseAt: point.pauseAt } satisfies MoveLogChildPlan, 60_000)
      expect(crashed.killed, crashed.lines.join(' | ')).toBe(true)
      // Undecided: recovery rolls the move back once its 2 s transaction timeout has passed.
      if (!point.moved) await new Promise((resolve) => setTimeout(resolve, 2_200))
      expect(await expectSettled(s, from, to)).toBe(point.moved ? 'moved' : 'not moved')
      if (!point.moved) {
        // Run again: it finishes.
        const again = createCluster({ ...s.options, topology: 'follow' })
        s.clusters.push(again)
        expect((await again.moveLog(to, { timeoutMs: 20_000 })).to).toMatchObject({ epoch: 2, logShardId: to })
        expect(await expectSettled(s, from, to)).toBe('moved')
      }
    } finally {
      await tearDown(s)
    }
  }, 120_000)

  const SHARD_KILLS: { name: string; step: StepEvent['step']; victim: 'new log' | 'other'; moved: boolean }[] = [
    { name: 'the new log shard killed at its COMMIT PREPARED', step: 'commit', victim: 'new log', moved: true },
    { name: 'another shard killed at its PREPARE', step: 'prepare', victim: 'other', moved: false },
  ]
  it.each(SHARD_KILLS.map((k) => [k.name, k] as const))('%s, then restarted: recovery settles the move', async (_, kill) => {
    const s = await setUp(from, kill.victim === 'new log' ? 'kn' : 'ko')
    const victim = kill.victim === 'new log' ? to : 'pg-1'
    let struck = false
    let restarted = false
    const mover = createCluster({
      ...s.options,
      topology: 'follow',
      onStep: async (event) => {
        if (struck || event.step !== kill.step || event.shardId !== victim) return
        struck = true
        await local.kill(victim)
      },
    })
    s.clusters.push(mover)
    try {
      const outcome = await mover.moveLog(to, { stepTimeoutMs: 2_000, timeoutMs: 5_000 }).then(
        (move) => move.to.epoch,
        (error: unknown) => error as Error,
      )
      expect(struck).toBe(true)
      // The decision is what counts: committed (the dead branch left to recovery), or aborted.
      if (kill.moved) expect(outcome).toBe(2)
      else expect(outcome).toBeInstanceOf(Error)
      await local.restart(victim)
      restarted = true
      if (!kill.moved) await new Promise((resolve) => setTimeout(resolve, 2_200))
      expect(await expectSettled(s, from, to)).toBe(kill.moved ? 'moved' : 'not moved')
    } finally {
      if (struck && !restarted) await local.restart(victim)
      await tearDown(s)
    }
  }, 120_000)
})
