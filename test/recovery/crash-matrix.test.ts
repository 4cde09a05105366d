import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Cluster, createCluster, type StepEvent } from '../../src/index.js'
import { type LocalCluster, startLocalCluster } from '../../src/testing/index.js'
import { type ChildPlan, CRASH_POINTS, type CrashPoint, matches } from './crash-plan.js'

const CHILD = fileURLToPath(new URL('./crash-coordinator.ts', import.meta.url))
/**
 * Each log shard gets its own branch prefix: every process that may recover a
 * branch must use the log shard that holds its decision.
 */
const prefixFor = (log: string): string => `crash_${log.replace('-', '')}_`
/**
 * And its own log table: the topology and the shards' epoch fences are named after
 * it, and a shard fenced by one log shard's topology refuses a cluster with another.
 */
const logTableFor = (log: string): string => `crash_log_${log.replace('-', '')}`
const TABLE = 'transfers'
/**
 * Transaction timeouts: long enough that a loaded CI machine still reaches each crash
 * point before the deadline, short enough that recovery may judge the abandoned ones soon.
 */
const COORDINATOR_TIMEOUT_MS = 6_000
const SHARD_KILL_TIMEOUT_MS = 3_000

const COMBINATIONS = [
  { name: 'PG+PG', a: 'pg-0', b: 'pg-1' },
  { name: 'MySQL+MySQL', a: 'my-0', b: 'my-1' },
  { name: 'PG+MySQL', a: 'pg-0', b: 'my-0' },
]

interface Case {
  label: string
  a: string
  b: string
  log: string
  point: CrashPoint
  transferId: number
}

/** Every combination, with the log shard inside (shard a) and outside the transaction. */
function cases(firstId: number): Case[] {
  const all: Case[] = []
  let id = firstId
  for (const combo of COMBINATIONS) {
    const outside = ['pg-0', 'pg-1', 'my-0', 'my-1'].find((s) => s !== combo.a && s !== combo.b)!
    for (const [where, log] of [['log inside', combo.a], ['log outside', outside]] as const) {
      for (const point of CRASH_POINTS) {
        if (point.needsTwoPrepares && log === combo.a) continue
        if (point.onePhase && log !== combo.a) continue
        all.push({ label: `${combo.name}, ${where}, ${point.name}`, a: combo.a, b: combo.b, log, point, transferId: id++ })
      }
    }
  }
  return all
}

let local: LocalCluster

beforeAll(async () => {
  local = await startLocalCluster({ postgres: 2, mysql: 2, durable: false })
  const setup = createCluster({ shards: local.shards, recovery: false, logTable: logTableFor('pg-0') })
  await Promise.all(
    local.shards.map(async (s) => {
      const knex = setup.forShard(s.id)
      await knex.schema.createTable(TABLE, (t) => {
        t.integer('id').primary()
        t.integer('amount').notNullable()
      })
      // Every shard may be the log shard of some case.
      const onLog = createCluster({ shards: local.shards, log: s.id, recovery: false, logTable: logTableFor(s.id) })
      await onLog.migrate()
      await onLog.close()
    }),
  )
  await setup.close()
}, 120_000)

afterAll(() => local?.destroy())

/** A recoverer over the whole cluster with the given log shard and no grace. */
function recoverer(log: string): Cluster {
  return createCluster({
    shards: local.shards,
    log,
    prefix: prefixFor(log),
    logTable: logTableFor(log),
    recovery: { enabled: false, graceMs: 0 },
  })
}

/** Recovers until no branch of ours is prepared; deadlines pass on their own. */
async function recoverAll(logs: string[]): Promise<void> {
  const clusters = logs.map(recoverer)
  try {
    for (let round = 0; round < 50; round++) {
      const reports = await Promise.all(clusters.map((c) => c.recover()))
      const left = (await Promise.all(clusters.map((c) => c.inDoubt()))).flat()
      if (left.length === 0 && reports.every((r) => r.forgotten === 0)) return
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    throw new Error(`branches still in doubt: ${JSON.stringify(await Promise.all(clusters.map((c) => c.inDoubt())))}`)
  } finally {
    await Promise.all(clusters.map((c) => c.close()))
  }
}

/** Where the transfer's rows are: on both shards, on neither, or (a violation) on one. A one-phase transfer writes `a` only. */
async function outcomeOf(c: Case, inspector: Cluster): Promise<'committed' | 'rolled back' | 'split'> {
  const [onA, onB] = await Promise.all(
    [c.a, c.b].map(async (s) => (await inspector.forShard(s)(TABLE).where({ id: c.transferId })).length),
  )
  if (c.point.onePhase) return onB !== 0 ? 'split' : onA === 1 ? 'committed' : 'rolled back'
  if (onA === 1 && onB === 1) return 'committed'
  if (onA === 0 && onB === 0) return 'rolled back'
  return 'split'
}

async function commitRecordsLeft(inspector: Cluster, txIds: string[]): Promise<unknown[]> {
  const rows = await Promise.all(
    local.shards.map((s) => inspector.forShard(s.id)(logTableFor(s.id)).whereIn('tx_id', txIds).where({ decision: 'commit' })),
  )
  return rows.flat()
}

/** Runs the coordinator child until it pauses at the crash point, then SIGKILLs it. */
function crashCoordinator(c: Case): Promise<{ txId: string; killed: boolean; lines: string[] }> {
  const plan: ChildPlan = {
    shards: local.shards,
    log: c.log,
    prefix: prefixFor(c.log),
    logTable: logTableFor(c.log),
    table: TABLE,
    a: c.a,
    b: c.b,
    transferId: c.transferId,
    point: c.point,
    timeoutMs: COORDINATOR_TIMEOUT_MS,
  }
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
    env: { ...process.env, SHARDTX_CRASH_PLAN: JSON.stringify(plan) },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const lines: string[] = []
  let txId = ''
  let paused = false
  let killed = false
  const seen: StepEvent[] = []
  const ids = { a: c.a, b: c.b }
  const killIfReady = (): void => {
    if (paused && !killed && c.point.after.every((want) => seen.some((e) => matches(e, want, ids)))) {
      killed = true
      child.kill('SIGKILL')
    }
  }
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line)
    const [word, step, shard] = line.split(' ')
    if (word === 'TX') txId = step!
    if (word === 'STEP') seen.push({ step: step as StepEvent['step'], txId, shardId: shard === '-' ? undefined : shard })
    if (word === 'PAUSED') paused = true
    killIfReady()
  })
  return new Promise((resolve) => child.on('exit', () => resolve({ txId, killed, lines })))
}

describe('crash matrix: the coordinator is SIGKILLed at each protocol step', () => {
  const all = cases(1)

  it(`leaves every transaction all-or-nothing (${all.length} cases)`, async () => {
    const runs: { c: Case; txId: string }[] = []
    // A few coordinators at a time: each child is a whole Node process.
    for (let i = 0; i < all.length; i += 6) {
      const batch = all.slice(i, i + 6)
      const results = await Promise.all(batch.map(crashCoordinator))
      results.forEach((r, j) => {
        expect(r.killed, `${batch[j]!.label}: ${r.lines.join(' | ')}`).toBe(true)
        runs.push({ c: batch[j]!, txId: r.txId })
      })
    }
    // Nothing may be decided by a clock: wait out the deadlines, then recover.
    await new Promise((resolve) => setTimeout(resolve, COORDINATOR_TIMEOUT_MS + 500))
    await recoverAll([...new Set(all.map((c) => c.log))])

    const inspectors = ['pg-0', 'pg-1', 'my-0', 'my-1'].map(recoverer)
    try {
      for (const { c } of runs) expect(await outcomeOf(c, inspectors[0]!), c.label).toBe(c.point.outcome)
      for (const inspector of inspectors) expect(await inspector.inDoubt()).toEqual([])
      expect(await commitRecordsLeft(inspectors[0]!, runs.map((r) => r.txId))).toEqual([])
    } finally {
      await Promise.all(inspectors.map((i) => i.close()))
    }
  }, 300_000)
})

describe('crash matrix: a shard server is SIGKILLed at each protocol step and restarted', () => {
  const all = cases(1_000)
  const victims = (c: Case): string[] => (c.point.onePhase ? [c.a] : [...new Set([c.log, c.b === c.log ? c.a : c.b])])

  it(`leaves every transaction all-or-nothing, and committed where the caller saw success`, async () => {
    const problems: string[] = []
    for (const c of all) {
      for (const victim of victims(c)) {
        const label = `${c.label}, ${victim} killed`
        const transferId = c.transferId * 10 + (victim === c.log ? 1 : 2)
        const seen: StepEvent[] = []
        let crashed = false
        let wake: (() => void) | undefined
        const ids = { a: c.a, b: c.b }
        const cluster = createCluster({
          shards: local.shards,
          log: c.log,
          prefix: prefixFor(c.log),
          logTable: logTableFor(c.log),
          recovery: false,
          onStep: async (event) => {
            seen.push(event)
            wake?.()
            if (crashed || !matches(event, c.point.pauseAt, ids)) return
            // This step waits while the parallel ones catch up to the crash point.
            while (!c.point.after.every((want) => seen.some((e) => matches(e, want, ids)))) {
              await new Promise<void>((resolve) => (wake = resolve))
            }
            crashed = true
            await local.kill(victim)
          },
        })
        let callerSaw: string
        try {
          await cluster.transaction(
            async (tx) => {
              await tx.forShard(c.a)(TABLE).insert({ id: transferId, amount: -1 })
              if (!c.point.onePhase) await tx.forShard(c.b)(TABLE).insert({ id: transferId, amount: 1 })
            },
            { timeout: SHARD_KILL_TIMEOUT_MS },
          )
          await cluster.close()
          callerSaw = 'committed'
        } catch (error) {
          callerSaw = (error as Error).name
          await cluster.close()
        }
        if (!crashed) problems.push(`${label}: never reached the crash point`)
        await local.restart(victim)
        await recoverAll([c.log])
        const inspector = recoverer(c.log)
        try {
          const outcome = await outcomeOf({ ...c, transferId }, inspector)
          if (outcome === 'split') problems.push(`${label}: split`)
          if (callerSaw === 'committed' && outcome !== 'committed') problems.push(`${label}: caller saw success, got ${outcome}`)
          if (callerSaw === 'TransactionAbortedError' && outcome !== 'rolled back') problems.push(`${label}: caller saw abort, got ${outcome}`)
        } finally {
          await inspector.close()
        }
      }
    }
    expect(problems).toEqual([])
  }, 600_000)
})
