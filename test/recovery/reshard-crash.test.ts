import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { crashChild } from '../helpers/crash-child.js'
import type { Cluster, ClusterOptions, StepEvent } from '../../src/index.js'
import { type LocalCluster, startLocalCluster } from '../../src/testing/index.js'
import { pollUntil } from '../../src/testing/poll-until.js'
import { type ReshardBank, startReshardBank } from '../resharding/reshard-fixture.js'
import { type ReshardChildPlan, type ReshardCrashPoint, RESHARD_CRASH_POINTS } from './reshard-crash-plan.js'

/**
 * The resharding crash matrix (issue 18): the mover SIGKILLed at each step of its
 * job's first step and of a batch, and the source's or the destination's server
 * SIGKILLed at a step of a batch and restarted. After each crash: recover, resume the
 * job with the same target, and check that every account is on its owner exactly
 * once, the total is conserved, the job is done, nothing is left prepared, and the
 * shards' fences agree with the stored topology.
 *
 * Three servers of its own (the shared cluster must not be killed): `pg-0` is the log
 * shard in every case and in no moved pair, so a batch prepares two branches (source,
 * destination) and commits the log shard's branch with the decision. Each case has
 * its own bank (tables, log table, prefix), so cases do not see each other.
 *
 * Which subset runs (a slow 2-core machine, about two minutes for the file):
 * - PostgreSQL → MariaDB: every mover crash point (RESHARD_CRASH_POINTS).
 * - MariaDB → PostgreSQL: the points where the two sides' dialects matter: one side
 *   prepared and the other not, one side committed and the other still prepared (an
 *   XA branch where the first pairing had a PostgreSQL prepared transaction, and the
 *   reverse). Four points: one round of children. Not rerun here: the points before
 *   PREPARE (they only drop the mover's connections, which each server answers by
 *   rolling back the open transaction, whichever side is which); "both prepared, no
 *   decision" and "right after the decision" (recovery rolling back, or committing,
 *   both sides: each side's half is in the one-sided points); the job start (one
 *   transaction over all three shards whichever pairing it serves).
 * - Shard servers: per pairing, the source killed at one step and the destination at
 *   another (one that rolls the batch back, one that leaves a prepared branch to
 *   survive the restart and be committed by recovery).
 */

const CHILD = fileURLToPath(new URL('./reshard-crash-child.ts', import.meta.url))
const LOG = 'pg-0'
const ACCOUNTS = 60
const BATCH_SIZE = 5
/**
 * The mover's transaction timeout: long enough for a loaded machine to reach a crash
 * point within one batch, short enough that recovery may soon judge a killed mover's
 * prepared branches abandoned (no decision, deadline passed).
 */
const BATCH_TIMEOUT_MS = 5_000
/** Mover children run side by side, a few at a time: each is a whole Node process. */
const CHILDREN_AT_ONCE = 4

interface Pairing {
  name: string
  /** The shards the bank starts on; the job adds the third one. */
  routed: string[]
  source: string
  destination: string
}

const PAIRINGS: Pairing[] = [
  { name: 'PostgreSQL → MariaDB', routed: ['pg-0', 'pg-1'], source: 'pg-1', destination: 'my-0' },
  { name: 'MariaDB → PostgreSQL', routed: ['pg-0', 'my-0'], source: 'my-0', destination: 'pg-1' },
]
const TARGET = [{ id: 'pg-0' }, { id: 'pg-1' }, { id: 'my-0' }]

/** The second pairing's subset: a prepared branch on one side and not the other, or committed on one side only (see above). */
const DIALECT_SENSITIVE = new Set([
  'batch: source prepared, destination not',
  'batch: destination prepared, source not',
  'batch: source committed, destination still prepared',
  'batch: destination committed, source still prepared',
])
const pointsFor = (p: Pairing): ReshardCrashPoint[] =>
  p === PAIRINGS[0] ? RESHARD_CRASH_POINTS : RESHARD_CRASH_POINTS.filter((c) => DIALECT_SENSITIVE.has(c.name))

let local: LocalCluster
beforeAll(async () => {
  local = await startLocalCluster({ postgres: 2, mysql: 1, durable: false })
}, 120_000)
afterAll(() => local?.destroy())

const shardsOf = (ids: string[]) => local.shards.filter((s) => ids.includes(s.id))
const tablesOf = (bank: ReshardBank): NonNullable<ClusterOptions['tables']> => ({
  [bank.accounts]: { shardKey: 'id' },
  [bank.currencies]: { reference: true },
})

/** A bank on the pairing's routed shards, created on all three; its processes recover with no grace. */
function bankFor(pairing: Pairing): Promise<ReshardBank> {
  return startReshardBank(shardsOf(pairing.routed), local.shards, ACCOUNTS, { recovery: { enabled: false, graceMs: 0 } })
}

/** Runs the mover in a child until it pauses at the crash point, then SIGKILLs it. */
function crashMover(plan: ReshardChildPlan): Promise<{ killed: boolean; lines: string[] }> {
  return crashChild(CHILD, 'SHARDTX_RESHARD_PLAN', plan)
}

/**
 * Recovery rounds until no branch of the bank is prepared. A killed mover's branches
 * without a decision are settled once their deadline has passed: this waits for that
 * state, it does not assume it.
 */
async function recoverAll(cluster: Cluster, label: string): Promise<{ committed: number; rolledBack: number }> {
  const settled = { committed: 0, rolledBack: 0 }
  let last: unknown
  await pollUntil(
    async () => {
      const report = await cluster.recover()
      settled.committed += report.committed.length
      settled.rolledBack += report.rolledBack.length
      const left = await cluster.inDoubt()
      last = { failed: report.failed, left }
      return report.failed.length === 0 && left.length === 0
    },
    { timeoutMs: 60_000, intervalMs: 200, onTimeout: () => new Error(`${label}: still in doubt after 60 s: ${JSON.stringify(last)}`) },
  )
  return settled
}

/** The bank's invariants once the job was resumed to its end. Returns what is wrong, in words. */
async function problemsOf(cluster: Cluster, bank: ReshardBank, label: string): Promise<string[]> {
  const problems: string[] = []
  const say = (what: string): void => void problems.push(`${label}: ${what}`)
  const accounts: { shardId: string; id: number; balance: number }[] = []
  for (const shard of local.shards) {
    const rows = (await cluster.forShard(shard.id)(bank.accounts).select('id', 'balance')) as { id: number; balance: number }[]
    for (const r of rows) accounts.push({ shardId: shard.id, id: Number(r.id), balance: Number(r.balance) })
  }
  // Read before anything reloads the topology: reshard() leaves its process routing by the job's last epoch.
  const wrong = accounts.filter((a) => a.shardId !== cluster.shardFor(a.id))
  if (wrong.length > 0) say(`${wrong.length} accounts off their owner, e.g. ${JSON.stringify(wrong[0])}`)
  const ids = new Set(accounts.map((a) => a.id))
  if (accounts.length !== ACCOUNTS || ids.size !== ACCOUNTS) say(`${accounts.length} account rows, ${ids.size} distinct ids, want ${ACCOUNTS} of each`)
  const total = accounts.reduce((sum, a) => sum + a.balance, 0)
  if (total !== ACCOUNTS * 100) say(`total ${total}, want ${ACCOUNTS * 100}`)
  const placement = await cluster.verifyPlacement()
  if (placement.misplaced.length > 0) say(`verifyPlacement: ${JSON.stringify(placement.misplaced)}`)
  const job = await cluster.reshardStatus()
  if (job?.state !== 'done' || job.done !== job.total) say(`job ${JSON.stringify(job)}`)
  const inDoubt = await cluster.inDoubt()
  if (inDoubt.length > 0) say(`still prepared: ${JSON.stringify(inDoubt)}`)
  const topology = await cluster.topology()
  if (topology.pending !== undefined) say(`a pending topology at epoch ${topology.pending.epoch}`)
  if (topology.move !== undefined) say(`the topology still names a move: ${JSON.stringify(topology.move)}`)
  const routedBy = topology.shards.map((s) => s.id).sort()
  if (JSON.stringify(routedBy) !== JSON.stringify(TARGET.map((s) => s.id).sort())) say(`routes by ${routedBy.join(', ')}`)
  // A fence above the stored epoch was raised by a step whose topology row did not commit
  // with it; the last batch raised its two shards to the epoch it published.
  const fences = topology.fences.map((f) => f.epoch ?? -1)
  if (fences.some((e) => e < 0 || e > topology.epoch) || Math.max(...fences) !== topology.epoch) {
    say(`fences ${JSON.stringify(topology.fences)} against stored epoch ${topology.epoch}`)
  }
  return problems
}

/** The reference table reached the shard the job added. */
async function referenceCopied(cluster: Cluster, bank: ReshardBank, added: string): Promise<string[]> {
  return (await cluster.forShard(added)(bank.currencies).orderBy('code').pluck('code')) as string[]
}

/** A transfer between an account on the source and one on the destination commits after the job. */
async function transferAcross(cluster: Cluster, bank: ReshardBank, pairing: Pairing): Promise<void> {
  const onSource = [...Array(ACCOUNTS).keys()].find((id) => cluster.shardFor(id) === pairing.source)!
  const onDestination = [...Array(ACCOUNTS).keys()].find((id) => cluster.shardFor(id) === pairing.destination)!
  await cluster.transaction(
    async (tx) => {
      await tx.table(bank.accounts).where({ id: onSource }).decrement('balance', 7)
      await tx.table(bank.accounts).where({ id: onDestination }).increment('balance', 7)
    },
    { retry: { attempts: 10 } },
  )
}

async function moverCrashCase(pairing: Pairing, point: ReshardCrashPoint): Promise<string[]> {
  const label = `${pairing.name}, ${point.name}`
  const bank = await bankFor(pairing)
  try {
    const crashed = await crashMover({
      shards: local.shards,
      log: LOG,
      prefix: bank.prefix,
      logTable: bank.logTable,
      tables: tablesOf(bank),
      target: TARGET,
      batchSize: BATCH_SIZE,
      batchTimeoutMs: BATCH_TIMEOUT_MS,
      source: pairing.source,
      destination: pairing.destination,
      crash: point,
    })
    if (!crashed.killed) return [`${label}: never reached the crash point: ${crashed.lines.filter((l) => !l.startsWith('STEP')).join(' | ')}`]
    const problems: string[] = []
    // The crash left what the point says: these prepared branches, and the job where it was.
    const settled = await recoverAll(bank.cluster, label)
    if (JSON.stringify(settled) !== JSON.stringify(point.recovers)) problems.push(`${label}: recovery settled ${JSON.stringify(settled)}, want ${JSON.stringify(point.recovers)}`)
    const crashBatch = point.at === 'start' ? 0 : Number(crashed.lines.find((l) => l.startsWith('BATCH '))?.split(' ')[1])
    const job = await bank.cluster.reshardStatus()
    const wantDone = point.job === 'none' ? undefined : point.job === 'at' ? crashBatch : crashBatch + 1
    if (job?.done !== wantDone) problems.push(`${label}: after recovery the job is ${JSON.stringify(job)}, want ${wantDone ?? 'none'} batches done`)
    const resumed = await bank.cluster.reshard(TARGET, { batchSize: BATCH_SIZE })
    if (resumed.state !== 'done') problems.push(`${label}: resumed job ended ${resumed.state} at ${resumed.done}/${resumed.total}`)
    problems.push(...(await problemsOf(bank.cluster, bank, label)))
    const added = TARGET.find((t) => !pairing.routed.includes(t.id))!.id
    const copied = await referenceCopied(bank.cluster, bank, added)
    if (JSON.stringify(copied) !== '["EUR","USD"]') problems.push(`${label}: reference table on ${added}: ${JSON.stringify(copied)}`)
    await transferAcross(bank.cluster, bank, pairing)
    return problems
  } finally {
    await bank.close()
  }
}

describe('resharding crash matrix: the mover is SIGKILLed at each step', () => {
  for (const pairing of PAIRINGS) {
    const points = pointsFor(pairing)
    it(`${pairing.name}: ${points.length} crash points, each recovered and resumed to a correct end`, async () => {
      const problems: string[] = []
      for (let i = 0; i < points.length; i += CHILDREN_AT_ONCE) {
        const results = await Promise.all(points.slice(i, i + CHILDREN_AT_ONCE).map((point) => moverCrashCase(pairing, point)))
        problems.push(...results.flat())
      }
      expect(problems).toEqual([])
    }, 240_000)
  }
})

/** A shard server killed at a protocol step of a batch between `source` and `destination`. */
interface ShardKill {
  pairing: Pairing
  victim: 'source' | 'destination'
  at: { step: StepEvent['step']; shard?: 'source' | 'destination' }
  why: string
  /** What recovery finds after the restart (the mover went on with batches that did not need the victim). */
  recovers: { committed: number; rolledBack: number }
}

const SHARD_KILLS: ShardKill[] = [
  { pairing: PAIRINGS[0]!, victim: 'source', at: { step: 'decided' }, why: 'its prepared branch survives the restart; recovery commits it', recovers: { committed: 1, rolledBack: 0 } },
  { pairing: PAIRINGS[0]!, victim: 'destination', at: { step: 'prepare', shard: 'destination' }, why: 'its copied rows are lost before PREPARE; the batch rolls back', recovers: { committed: 0, rolledBack: 0 } },
  { pairing: PAIRINGS[1]!, victim: 'source', at: { step: 'prepare', shard: 'source' }, why: 'its deletes are lost before PREPARE; the batch rolls back', recovers: { committed: 0, rolledBack: 0 } },
  { pairing: PAIRINGS[1]!, victim: 'destination', at: { step: 'decided' }, why: 'its prepared branch survives the restart; recovery commits it', recovers: { committed: 1, rolledBack: 0 } },
]

describe('resharding crash matrix: the source or destination server is SIGKILLed at a step of a batch and restarted', () => {
  it.each(SHARD_KILLS.map((k) => [`${k.pairing.name}, ${k.victim} killed at ${k.at.step}${k.at.shard ? ` of ${k.at.shard}` : ''}`, k] as const))(
    '%s',
    async (label, kill) => {
      const { pairing } = kill
      const victim = pairing[kill.victim]
      const bank = await bankFor(pairing)
      const opened: Cluster[] = []
      const open = (extra: Partial<ClusterOptions> = {}): Cluster => {
        const c = bank.sibling(local.shards, { topology: 'follow', recovery: { enabled: false, graceMs: 0 }, ...extra })
        opened.push(c)
        return c
      }
      try {
        const dry = await bank.cluster.reshardPlan(TARGET, { batchSize: BATCH_SIZE })
        const pair = dry.batches.map((b, i) => [b, i] as const).filter(([b]) => b.from === pairing.source && b.to === pairing.destination)
        const crashBatch = (pair.find(([, i]) => i > 0) ?? pair[0])![1]
        let done = -1
        let killed = false
        const mover = open({
          onStep: async (event) => {
            if (killed || done !== crashBatch || event.step !== kill.at.step) return
            if (kill.at.shard !== undefined && event.shardId !== pairing[kill.at.shard]) return
            killed = true
            await local.kill(victim)
          },
        })
        const outcome = await mover
          .reshard(TARGET, { batchSize: BATCH_SIZE, batchTimeoutMs: BATCH_TIMEOUT_MS, onProgress: (p) => void (done = p.done) })
          .then(
            (p) => `${p.state} ${p.done}/${p.total}`,
            (error: unknown) => (error as Error).name,
          )
        expect(killed, `${label}: the mover ended (${outcome}) without reaching the crash point`).toBe(true)
        await local.restart(victim)
        // Fresh processes: the mover's pools hold connections to the killed server.
        const after = open()
        expect(await recoverAll(after, label)).toEqual(kill.recovers)
        const resumed = await after.reshard(TARGET, { batchSize: BATCH_SIZE })
        expect(resumed.state).toBe('done')
        expect(await problemsOf(after, bank, label)).toEqual([])
        const added = TARGET.find((t) => !pairing.routed.includes(t.id))!.id
        expect(await referenceCopied(after, bank, added)).toEqual(['EUR', 'USD'])
        await transferAcross(after, bank, pairing)
      } finally {
        await Promise.all(opened.map((c) => c.close()))
        await bank.close()
      }
    },
    120_000,
  )
})
