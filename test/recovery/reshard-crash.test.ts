import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { crashChild } from '../helpers/crash-child.js'
import type { Cluster, ClusterOptions, StepEvent, TopologyReport } from '../../src/index.js'
import { type LocalCluster, startLocalCluster } from '../../src/testing/index.js'
import { pollUntil } from '../../src/testing/poll-until.js'
import { decodeMove, type TopologyMove } from '../../src/topology/topology.js'
import { type ReshardBank, startReshardBank } from '../resharding/reshard-fixture.js'
import { MoverSteps } from './mover-steps.js'
import { type BatchPhase, FROZEN_NO_MOVER, type ReshardChildPlan, type ReshardCrashPoint, RESHARD_CRASH_POINTS } from './reshard-crash-plan.js'

/**
 * The resharding crash matrix (issue 18): the mover SIGKILLed at each step of its
 * job's first step and of the two fenced steps of a batch (its FREEZE, one transaction
 * over the source and the log shard; its MOVE, over source, destination and log shard),
 * and the source's or the destination's server SIGKILLed at a step of a batch and
 * restarted. After each crash: recover, and find what the point predicts (the prepared
 * branches recovery commits or rolls back, the job's batches done, the batch frozen or
 * not, no fence above the stored epoch and, while frozen, the source's at it and the
 * destination's below); resume the job with the same target, and check that every
 * account is on its owner exactly once, the total is conserved, the job is done,
 * nothing is left prepared, the shards' fences agree with the stored topology, no batch
 * is left frozen, and the stored topology's history is the protocol's: every batch
 * frozen before it moved and, after a mover's crash, none unfrozen (a resumed job goes
 * on from the batch it finds frozen). One more case kills the mover with its batch
 * frozen and cancels the job from another process: the batch is unfrozen, every
 * account still on its owner, then the job is resumed to its end.
 *
 * Three servers of its own (the shared cluster must not be killed): `pg-0` is the log
 * shard in every case and in no moved pair, so a freeze prepares one branch (the
 * source) and a move two (source, destination), and each commits the log shard's
 * branch with the decision. Each case has its own bank (tables, log table, prefix), so
 * cases do not see each other.
 *
 * Which subset runs (a slow, shared 2-core machine: 115 to 165 s for the file under a
 * load average of 10 to 13, where the one-step batch's file took 140 s; the mover cases
 * run concurrently, CHILDREN_AT_ONCE at a time, then the server kills one by one):
 * - PostgreSQL → MariaDB: every mover crash point (RESHARD_CRASH_POINTS: the job's start,
 *   five points of the freeze, nine of the move), and the cancel case.
 * - MariaDB → PostgreSQL: the points where the two sides' dialects matter: one side
 *   prepared and the other not, one side committed and the other still prepared (an
 *   XA branch where the first pairing had a PostgreSQL prepared transaction, and the
 *   reverse). Four points. Not rerun here: the points before PREPARE (they only drop the
 *   mover's connections, which each server answers by rolling back the open
 *   transaction, whichever side is which); the freeze's source prepared, before and
 *   after its decision (the same kind of branch as the move's source side, a fence held
 *   and raised, rolled back and committed by recovery in the one-sided move points);
 *   the move's "both prepared, no decision" and "right after the decision" (recovery
 *   rolling back, or committing, both sides: each side's half is in the one-sided
 *   points); the job start (one transaction over all three shards whichever pairing it
 *   serves).
 * - Shard servers: per pairing, the source killed at a step of a move and the destination
 *   at another (one that rolls the batch back, one that leaves a prepared branch to
 *   survive the restart and be committed by recovery); and in the first pairing the
 *   source killed at its freeze's PREPARE (the freeze rolls back: nothing frozen).
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
/** The movers' batches: no application runs beside them here, so no pause between batches to leave it windows. */
const MOVER = { batchSize: BATCH_SIZE, dutyCycle: 1 }
/** Mover cases run side by side, a few at a time: each has a whole Node process (no more than vitest's default maxConcurrency, 5). */
const CHILDREN_AT_ONCE = 5
/**
 * A child that has not paused by then never will (a crash point its run does not reach):
 * it is killed and its case fails with its output, instead of hanging the file.
 */
const CHILD_GIVE_UP_MS = 120_000

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
  'move: source prepared, destination not',
  'move: destination prepared, source not',
  'move: source committed, destination still prepared',
  'move: destination committed, source still prepared',
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
function crashMover(bank: ReshardBank, pairing: Pairing, crash: ReshardCrashPoint, timeoutMs?: number): Promise<{ killed: boolean; lines: string[] }> {
  const plan: ReshardChildPlan = {
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
    crash,
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  }
  return crashChild(CHILD, 'SHARDTX_RESHARD_PLAN', plan, CHILD_GIVE_UP_MS)
}

/** The batch the child crashed in (it prints it before the job starts). */
const crashBatchOf = (lines: string[]): number => Number(lines.find((l) => l.startsWith('BATCH '))?.split(' ')[1])
const notReached = (label: string, lines: string[]): string => `${label}: never reached the crash point: ${lines.filter((l) => !l.startsWith('STEP')).join(' | ')}`

/** Runs the functions it is given at most `n` at once, the next one as soon as one ends. */
function limiter(n: number): <T>(run: () => Promise<T>) => Promise<T> {
  let running = 0
  const waiting: (() => void)[] = []
  return async (run) => {
    while (running >= n) await new Promise<void>((resolve) => waiting.push(resolve))
    running++
    try {
      return await run()
    } finally {
      running--
      waiting.shift()?.()
    }
  }
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

/**
 * The shards' fences against the stored topology: none above it (a fence raised by a
 * step whose topology row did not commit with it). With `frozen`, the batch from its
 * source to its destination is frozen at the stored epoch: the freeze raised the
 * source's fence to it and left the destination's below.
 */
function fenceProblems(topology: TopologyReport, frozen?: Pairing): string[] {
  const epochOf = (id: string): number => topology.fences.find((f) => f.shardId === id)?.epoch ?? -1
  const problems: string[] = []
  if (topology.fences.some((f) => f.epoch === undefined || f.epoch > topology.epoch)) {
    problems.push(`fences ${JSON.stringify(topology.fences)} against stored epoch ${topology.epoch}`)
  }
  if (frozen !== undefined && (epochOf(frozen.source) !== topology.epoch || epochOf(frozen.destination) >= topology.epoch)) {
    problems.push(`frozen at epoch ${topology.epoch}, fences ${JSON.stringify(topology.fences)}: want ${frozen.source}'s at it, ${frozen.destination}'s below`)
  }
  return problems
}

/** Every account once, on the shard this process routes its id to, and the total conserved. */
async function accountProblems(cluster: Cluster, bank: ReshardBank): Promise<string[]> {
  const problems: string[] = []
  const accounts: { shardId: string; id: number; balance: number }[] = []
  for (const shard of local.shards) {
    const rows = (await cluster.forShard(shard.id)(bank.accounts).select('id', 'balance')) as { id: number; balance: number }[]
    for (const r of rows) accounts.push({ shardId: shard.id, id: Number(r.id), balance: Number(r.balance) })
  }
  const wrong = accounts.filter((a) => a.shardId !== cluster.shardFor(a.id))
  if (wrong.length > 0) problems.push(`${wrong.length} accounts off their owner, e.g. ${JSON.stringify(wrong[0])}`)
  const ids = new Set(accounts.map((a) => a.id))
  if (accounts.length !== ACCOUNTS || ids.size !== ACCOUNTS) problems.push(`${accounts.length} account rows, ${ids.size} distinct ids, want ${ACCOUNTS} of each`)
  const total = accounts.reduce((sum, a) => sum + a.balance, 0)
  if (total !== ACCOUNTS * 100) problems.push(`total ${total}, want ${ACCOUNTS * 100}`)
  return problems
}

/** The bank's invariants once the job was resumed to its end. Returns what is wrong, in words. */
async function problemsOf(cluster: Cluster, bank: ReshardBank, label: string): Promise<string[]> {
  const problems: string[] = []
  const say = (what: string): void => void problems.push(`${label}: ${what}`)
  // Read before anything reloads the topology: reshard() leaves its process routing by the job's last epoch.
  for (const what of await accountProblems(cluster, bank)) say(what)
  const placement = await cluster.verifyPlacement()
  if (placement.misplaced.length > 0) say(`verifyPlacement: ${JSON.stringify(placement.misplaced)}`)
  const job = await cluster.reshardStatus()
  if (job?.state !== 'done' || job.done !== job.total) say(`job ${JSON.stringify(job)}`)
  const inDoubt = await cluster.inDoubt()
  if (inDoubt.length > 0) say(`still prepared: ${JSON.stringify(inDoubt)}`)
  const topology = await cluster.topology()
  if (topology.pending !== undefined) say(`a pending topology at epoch ${topology.pending.epoch}`)
  if (topology.move?.moving !== undefined) say(`batch ${topology.move.moving} is left frozen`)
  if (topology.move !== undefined) say(`the topology still names a move: ${JSON.stringify(topology.move)}`)
  const routedBy = topology.shards.map((s) => s.id).sort()
  if (JSON.stringify(routedBy) !== JSON.stringify(TARGET.map((s) => s.id).sort())) say(`routes by ${routedBy.join(', ')}`)
  // The last batch's move raised its two shards to the epoch it published.
  for (const what of fenceProblems(topology)) say(what)
  if (Math.max(...topology.fences.map((f) => f.epoch ?? -1)) !== topology.epoch) say(`no fence at the stored epoch ${topology.epoch}: ${JSON.stringify(topology.fences)}`)
  return problems
}

/**
 * The stored topology's epochs from the job's first one, walked in order: a batch not
 * frozen may only be frozen next (same `done`, `moving` = that batch), and a frozen
 * batch only moved (`done` one on, or the job's end) or unfrozen (same `done`, no
 * `moving`). Says what else was published, and how many batches were unfrozen.
 */
async function historyOf(cluster: Cluster, bank: ReshardBank): Promise<{ problems: string[]; unfrozen: number }> {
  const rows = (await cluster.forShard(LOG)(`${bank.logTable}_topology`).orderBy('epoch').select('epoch', 'reshard')) as { epoch: number | string; reshard: string | null }[]
  const epochs = rows.map((r) => ({ epoch: Number(r.epoch), move: decodeMove(r.reshard) }))
  const describeMove = (m: TopologyMove | undefined): string => (m === undefined ? 'no move' : `done ${m.done}${m.moving === undefined ? '' : `, batch ${m.moving} frozen`}`)
  const problems: string[] = []
  let unfrozen = 0
  for (let i = 1; i < epochs.length; i++) {
    const [was, now] = [epochs[i - 1]!.move, epochs[i]!.move]
    // Before the job's first epoch there is no move; its start publishes one with no batch done.
    if (was === undefined) continue
    if (was.moving === undefined && now?.moving === was.done && now.done === was.done) continue
    if (was.moving !== undefined && now !== undefined && now.moving === undefined && now.done === was.done) {
      unfrozen++
      continue
    }
    const moved = now === undefined ? was.done + 1 === was.total : now.moving === undefined && now.done === was.done + 1
    if (was.moving !== undefined && moved) continue
    problems.push(`epoch ${epochs[i]!.epoch}: ${describeMove(now)} after ${describeMove(was)}`)
  }
  return { problems, unfrozen }
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

/**
 * Resumes the job to its end and checks the end (problemsOf), the topology's history
 * (`unfrozen` batches unfrozen on the way), the reference table and a transfer after it.
 */
async function resumeToEnd(cluster: Cluster, bank: ReshardBank, pairing: Pairing, label: string, unfrozen: number): Promise<string[]> {
  const problems: string[] = []
  const resumed = await cluster.reshard(TARGET, MOVER)
  if (resumed.state !== 'done') problems.push(`${label}: resumed job ended ${resumed.state} at ${resumed.done}/${resumed.total}`)
  problems.push(...(await problemsOf(cluster, bank, label)))
  const history = await historyOf(cluster, bank)
  problems.push(...history.problems.map((p) => `${label}: topology history: ${p}`))
  if (history.unfrozen !== unfrozen) problems.push(`${label}: ${history.unfrozen} batches unfrozen, want ${unfrozen}`)
  const added = TARGET.find((t) => !pairing.routed.includes(t.id))!.id
  const copied = await referenceCopied(cluster, bank, added)
  if (JSON.stringify(copied) !== '["EUR","USD"]') problems.push(`${label}: reference table on ${added}: ${JSON.stringify(copied)}`)
  await transferAcross(cluster, bank, pairing)
  return problems
}

/**
 * What recovery left after the mover was killed at `point` in batch `crashBatch`, against
 * what the point predicts: the prepared branches committed or rolled back, the job's
 * batches done, the batch frozen or not, and the fences (none above the stored epoch;
 * while frozen, the source's at it and the destination's below).
 */
async function recoveredProblems(cluster: Cluster, pairing: Pairing, point: ReshardCrashPoint, crashBatch: number, label: string): Promise<string[]> {
  const problems: string[] = []
  const say = (what: string): void => void problems.push(`${label}: ${what}`)
  const settled = await recoverAll(cluster, label)
  if (JSON.stringify(settled) !== JSON.stringify(point.recovers)) say(`recovery settled ${JSON.stringify(settled)}, want ${JSON.stringify(point.recovers)}`)
  const job = await cluster.reshardStatus()
  const wantDone = point.job === 'none' ? undefined : point.job === 'at' ? crashBatch : crashBatch + 1
  if (job?.done !== wantDone) say(`after recovery the job is ${JSON.stringify(job)}, want ${wantDone ?? 'none'} batches done`)
  const frozen = point.at === 'batch' && point.frozen
  const topology = await cluster.topology()
  if (topology.move?.moving !== (frozen ? crashBatch : undefined)) {
    say(`after recovery the topology's move is ${JSON.stringify(topology.move)}, want ${frozen ? `batch ${crashBatch} frozen` : 'no batch frozen'}`)
  }
  for (const what of fenceProblems(topology, frozen ? pairing : undefined)) say(`after recovery: ${what}`)
  return problems
}

async function moverCrashCase(pairing: Pairing, point: ReshardCrashPoint): Promise<string[]> {
  const label = `${pairing.name}, ${point.name}`
  const bank = await bankFor(pairing)
  try {
    const crashed = await crashMover(bank, pairing, point)
    if (!crashed.killed) return [notReached(label, crashed.lines)]
    const crashBatch = point.at === 'start' ? 0 : crashBatchOf(crashed.lines)
    const problems = await recoveredProblems(bank.cluster, pairing, point, crashBatch, label)
    // No batch unfrozen: the job resumed from a frozen batch moves it on.
    problems.push(...(await resumeToEnd(bank.cluster, bank, pairing, label, 0)))
    return problems
  } finally {
    await bank.close()
  }
}

/**
 * The mover killed with its batch frozen (the freeze committed, no move begun), then
 * the job cancelled from this process: the batch is unfrozen (its keys route to the
 * source again, nothing refused) with every account still on its owner, and the job,
 * resumed, finishes (one batch unfrozen on the way).
 */
async function cancelFrozenCase(pairing: Pairing): Promise<string[]> {
  const label = `${pairing.name}, ${FROZEN_NO_MOVER.name}, then cancelled`
  const bank = await bankFor(pairing)
  try {
    const crashed = await crashMover(bank, pairing, FROZEN_NO_MOVER)
    if (!crashed.killed) return [notReached(label, crashed.lines)]
    const crashBatch = crashBatchOf(crashed.lines)
    // Nothing in doubt, the batch frozen: as the point says.
    const problems = await recoveredProblems(bank.cluster, pairing, FROZEN_NO_MOVER, crashBatch, label)
    const say = (what: string): void => void problems.push(`${label}: ${what}`)
    const cancelled = await bank.cluster.cancelReshard()
    if (cancelled.state !== 'cancelled' || cancelled.done !== crashBatch) say(`cancelReshard() left the job ${JSON.stringify(cancelled)}, want cancelled at ${crashBatch}`)
    const topology = await bank.cluster.topology()
    if (topology.move === undefined || topology.move.moving !== undefined || topology.move.done !== crashBatch) {
      say(`after cancel the topology's move is ${JSON.stringify(topology.move)}, want ${crashBatch} batches done and none frozen`)
    }
    for (const what of fenceProblems(topology)) say(`after cancel: ${what}`)
    // topology() reloaded this process's routing: the cancelled epoch's, the batch's keys at the source.
    for (const what of await accountProblems(bank.cluster, bank)) say(`after cancel: ${what}`)
    problems.push(...(await resumeToEnd(bank.cluster, bank, pairing, label, 1)))
    return problems
  } finally {
    await bank.close()
  }
}

/**
 * The mover killed with its batch frozen, and nobody cancels or resumes: once the
 * freeze's frozenUntil (now + timeoutMs + batchTimeoutMs of the dead mover) has
 * passed, the background recovery of another process that routes by the frozen
 * epoch unfreezes the batch, and the job, resumed later, finishes.
 */
async function expiredFrozenCase(pairing: Pairing): Promise<string[]> {
  const label = `${pairing.name}, ${FROZEN_NO_MOVER.name}, then unfrozen by background recovery`
  const bank = await bankFor(pairing)
  try {
    const crashed = await crashMover(bank, pairing, FROZEN_NO_MOVER, 500)
    if (!crashed.killed) return [notReached(label, crashed.lines)]
    const crashBatch = crashBatchOf(crashed.lines)
    const problems = await recoveredProblems(bank.cluster, pairing, FROZEN_NO_MOVER, crashBatch, label)
    const say = (what: string): void => void problems.push(`${label}: ${what}`)
    const upkeep = bank.sibling(local.shards, { topology: 'follow', recovery: { enabled: true, intervalMs: 200, graceMs: 0 } })
    await upkeep.transaction(async () => {}) // loads the frozen epoch, as a process refused one of the batch's keys would
    await pollUntil(async () => (await bank.cluster.topology()).move?.moving === undefined, {
      timeoutMs: 60_000,
      intervalMs: 200,
      onTimeout: () => new Error(`${label}: the batch is still frozen after 60 s`),
    }).catch((error: Error) => say(error.message))
    await upkeep.close()
    const topology = await bank.cluster.topology()
    if (topology.move?.done !== crashBatch) say(`after the unfreeze the topology's move is ${JSON.stringify(topology.move)}, want ${crashBatch} batches done`)
    for (const what of fenceProblems(topology)) say(`after the unfreeze: ${what}`)
    for (const what of await accountProblems(bank.cluster, bank)) say(`after the unfreeze: ${what}`)
    problems.push(...(await resumeToEnd(bank.cluster, bank, pairing, label, 1)))
    return problems
  } finally {
    await bank.close()
  }
}

// Concurrent, a few mover children at a time (CHILDREN_AT_ONCE); the server kills below run after them, alone.
describe.concurrent('resharding crash matrix: the mover is SIGKILLed at each step', () => {
  const slot = limiter(CHILDREN_AT_ONCE)
  for (const pairing of PAIRINGS) {
    for (const point of pointsFor(pairing)) {
      it(`${pairing.name}, ${point.name}: recovered and resumed to a correct end`, async ({ expect }) => {
        expect(await slot(() => moverCrashCase(pairing, point))).toEqual([])
      }, 240_000)
    }
  }

  it(`${PAIRINGS[0]!.name}, ${FROZEN_NO_MOVER.name}: cancelled from another process, then resumed`, async ({ expect }) => {
    expect(await slot(() => cancelFrozenCase(PAIRINGS[0]!))).toEqual([])
  }, 240_000)

  it(`${PAIRINGS[0]!.name}, ${FROZEN_NO_MOVER.name}: unfrozen by another process's background recovery once its time passed, then resumed`, async ({ expect }) => {
    expect(await slot(() => expiredFrozenCase(PAIRINGS[0]!))).toEqual([])
  }, 240_000)
})

/** A shard server killed at a protocol step of a batch's freeze or move between `source` and `destination`. */
interface ShardKill {
  pairing: Pairing
  victim: 'source' | 'destination'
  at: { phase: BatchPhase; step: StepEvent['step']; shard?: 'source' | 'destination' }
  why: string
  /** What recovery finds after the restart (the mover went on with batches that did not need the victim). */
  recovers: { committed: number; rolledBack: number }
}

/** What recovery finds on the restarted server: nothing prepared (its open branch died with it), or a decided move's prepared branch, which it commits. */
const NOTHING = { committed: 0, rolledBack: 0 }
const COMMITS_ONE = { committed: 1, rolledBack: 0 }

const SHARD_KILLS: ShardKill[] = [
  { pairing: PAIRINGS[0]!, victim: 'source', at: { phase: 'move', step: 'decided' }, why: 'its prepared branch survives the restart; recovery commits it', recovers: COMMITS_ONE },
  { pairing: PAIRINGS[0]!, victim: 'destination', at: { phase: 'move', step: 'prepare', shard: 'destination' }, why: 'its copied rows are lost before PREPARE; the move rolls back, the batch is unfrozen', recovers: NOTHING },
  { pairing: PAIRINGS[0]!, victim: 'source', at: { phase: 'freeze', step: 'prepare', shard: 'source' }, why: 'its held and raised fence is lost before PREPARE; the freeze rolls back, nothing frozen', recovers: NOTHING },
  { pairing: PAIRINGS[1]!, victim: 'source', at: { phase: 'move', step: 'prepare', shard: 'source' }, why: 'its deletes are lost before PREPARE; the move rolls back, the batch is unfrozen', recovers: NOTHING },
  { pairing: PAIRINGS[1]!, victim: 'destination', at: { phase: 'move', step: 'decided' }, why: 'its prepared branch survives the restart; recovery commits it', recovers: COMMITS_ONE },
]

describe('resharding crash matrix: the source or destination server is SIGKILLed at a step of a batch and restarted', () => {
  const labelOf = (k: ShardKill): string => `${k.pairing.name}, ${k.victim} killed at the ${k.at.phase}'s ${k.at.step}${k.at.shard ? ` of ${k.at.shard}` : ''}`
  it.each(SHARD_KILLS.map((k) => [labelOf(k), k] as const))(
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
      // Which of the batch's two steps a protocol step belongs to (only this process moves rows here).
      const steps = new MoverSteps(async () => {})
      try {
        const dry = await bank.cluster.reshardPlan(TARGET, { batchSize: BATCH_SIZE })
        const pair = dry.batches.map((b, i) => [b, i] as const).filter(([b]) => b.from === pairing.source && b.to === pairing.destination)
        const crashBatch = (pair.find(([, i]) => i > 0) ?? pair[0])![1]
        let done = -1
        let killed = false
        const mover = open({
          onStep: async (event) => {
            if (killed || done !== crashBatch || steps.phase !== kill.at.phase || event.step !== kill.at.step) return
            if (kill.at.shard !== undefined && event.shardId !== pairing[kill.at.shard]) return
            killed = true
            await local.kill(victim)
          },
        })
        const onProgress = (p: { done: number }): void => {
          done = p.done
          steps.reset()
        }
        const outcome = await mover.reshard(TARGET, { ...MOVER, batchTimeoutMs: BATCH_TIMEOUT_MS, onProgress }).then(
          (p) => `${p.state} ${p.done}/${p.total}`,
          (error: unknown) => (error as Error).name,
        )
        expect(killed, `${label}: the mover ended (${outcome}) without reaching the crash point`).toBe(true)
        await local.restart(victim)
        // Fresh processes: the mover's pools hold connections to the killed server.
        const after = open()
        expect(await recoverAll(after, label)).toEqual(kill.recovers)
        // Whatever the mover did after the kill, it left no batch frozen: a move that failed unfroze its batch.
        const recovered = await after.topology()
        expect(recovered.move?.moving, `${label}: frozen after recovery`).toBeUndefined()
        expect(fenceProblems(recovered)).toEqual([])
        const unfrozen = (await historyOf(after, bank)).unfrozen
        // The mover's own unfreezes stand in the history before the resume; the resume adds none.
        expect(await resumeToEnd(after, bank, pairing, label, unfrozen)).toEqual([])
      } finally {
        steps.restore()
        await Promise.all(opened.map((c) => c.close()))
        await bank.close()
      }
    },
    120_000,
  )
})
