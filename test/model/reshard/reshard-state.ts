import { KEY_NAMES, SHARD_NAMES, route, shardsOf, type ReshardScope } from './reshard-scope.js'

/** What a branch holds of its shard's fence: nothing (a log-shard-only branch), shared (ROW SHARE / LOCK IN SHARE MODE, like every app branch) or exclusive. */
export type FenceLock = 'none' | 'shared' | 'exclusive'

/** A branch of a mover's transaction: open, or prepared (committed and rolled-back branches are dropped). */
export interface MoverBranch {
  shard: number
  prepared: boolean
  lock: FenceLock
  /** The fence value this branch raises the shard to at commit; 0 = leaves it. */
  raise: number
  /** Per key: the row value this branch upserts at commit, -1 = none. */
  insert: number[]
  /** Bitmask of keys this branch deletes at commit. */
  remove: number
  /** Per key: the row value the MOVE read here to copy it, -1 = none; a delete that commits over a row holding more lost a write. */
  copied: number[]
  /** Bitmask of keys read here with a locking read (`copyRead: 'locking'`): shared row locks to the end. */
  readLocks: number
}

export interface MoverTx {
  branches: MoverBranch[]
  /** What the log shard's branch writes: the new topology row (epoch, done, moving batch or -1) and the job row. */
  log: { epoch: number; done: number; moving: number } | null
  /** The log shard's branch committed: the decision record, and the topology row with it. */
  decided: boolean
}

/** `none`: the job has nothing left to move (done, or cancelled and moved back) but its topology is frozen. */
export type Plan = 'start' | 'forward' | 'reverse' | 'none'
/** What the mover's current transaction is: the job start, the two steps of a batch, or an unfreeze (one local statement pair on the log shard). */
export type MoverStep = 'start' | 'freeze' | 'move' | 'unfreeze'
export type MoverPc = 'idle' | 'read-epoch' | 'hold' | 'read' | 'write' | 'delete' | 'write-log' | 'prepare' | 'commit' | 'unfreeze'

export interface Mover {
  pc: MoverPc
  plan: Plan
  step: MoverStep
  batch: number
  /** The job's `done` when the mover read it (the compare-and-set compares with it); for an unfreeze, the frozen topology row's. */
  readDone: number
  /** The published epoch when the mover read it (for a MOVE right after its FREEZE, the FREEZE's); the new topology row is this + 1. */
  epoch: number
  /** Position within the fence list (hold) or the batch's keys (read, write, delete). */
  at: number
  tx: MoverTx | null
}

export type WriterPhase = 'idle' | 'open' | 'prepared' | 'in-doubt' | 'done'

export interface Writer {
  /** The epoch this process routes by; 0 = must (re)load the topology first. */
  loaded: number
  phase: WriterPhase
  /** The epoch and shard of the running transaction. */
  epoch: number
  shard: number
  left: number
}

/**
 * A fan-out transaction: at `at`, its statement has run on the first `at` shards of its
 * epoch's set (their branches open, holding the fence shared, and a writer the row
 * locks of the rows it updated); a writer then prepares on all and commits on all at
 * once, a reader (read-only branches: never prepared) just ends.
 */
export interface FanOut {
  loaded: number
  phase: 'idle' | 'run' | 'prepared' | 'done'
  epoch: number
  at: number
  /** Bit shard * KEYS + key: the rows its statement updated or read (the rows visible to it there). */
  touched: number
  left: number
}

/** In a row's value (and `committedWrites`), keyed writer i is bit i, fan-out writer j bit FAN_OUT_BIT + j. */
export const FAN_OUT_BIT = 8
export const KEYS = KEY_NAMES.length

/** The writers whose writes a bitmask of row values names: `W1`, `F1`, … */
export function writerNames(mask: number): string {
  const names: string[] = []
  for (let b = 0; b < 16; b++) if ((mask & (1 << b)) !== 0) names.push(b < FAN_OUT_BIT ? `W${b + 1}` : `F${b - FAN_OUT_BIT + 1}`)
  return names.join(', ')
}

export interface ReshardState {
  /** Committed fence epoch per shard; 0 = no fence row. */
  fence: number[]
  /** The highest active topology row. */
  published: number
  /** Committed topology rows: epochDone[e] = batches done under epoch e (epoch 1: before the job, the old ring). */
  epochDone: number[]
  /** Committed topology rows: epochMoving[e] = the batch frozen under epoch e, -1 = none. */
  epochMoving: number[]
  /** The job row: -1 = none. */
  jobDone: number
  cancelled: boolean
  /** Ghost: a reverse batch has committed (after which no forward batch may). */
  reversed: boolean
  /** Committed rows, rows[shard][key]: -1 = absent, else the bitmask of the writers whose writes it holds (its value). */
  rows: number[][]
  writers: Writer[]
  fanOuts: FanOut[]
  movers: Mover[]
  /** Transactions of crashed movers with prepared branches, for recovery. */
  orphans: MoverTx[]
  failuresLeft: number
  /** Ghost: per key, the writers whose write to it committed. */
  committedWrites: number[]
  violation: string | undefined
}

/** Epoch 1 is the topology before the job; the job start publishes 2, and raises every fence to it. */
export const JOB_START_EPOCH = 2

export function initialState(scope: ReshardScope): ReshardState {
  return {
    fence: [0, 1, 2].map((s) => (scope.added.includes(s) ? 0 : 1)),
    published: 1,
    epochDone: [0, 0],
    epochMoving: [-1, -1],
    jobDone: -1,
    cancelled: false,
    reversed: false,
    rows: [0, 1, 2].map((s) => scope.oldOwner.map((owner) => (owner === s ? 0 : -1))),
    writers: scope.writers.map((w) => ({ loaded: 1, phase: 'idle', epoch: 0, shard: 0, left: w.transactions })),
    fanOuts: (scope.fanOuts ?? []).map(() => ({ loaded: 1, phase: 'idle', epoch: 0, at: 0, touched: 0, left: 1 })),
    movers: Array.from({ length: scope.movers }, () => ({ pc: 'idle', plan: 'start', step: 'start', batch: 0, readDone: 0, epoch: 0, at: 0, tx: null })),
    orphans: [],
    failuresLeft: scope.failures,
    committedWrites: scope.oldOwner.map(() => 0),
    violation: undefined,
  }
}

// Hot: called for every successor. Plain loops, no closures (tsx wraps each arrow function it creates).
function cloneTx(t: MoverTx): MoverTx {
  const branches: MoverBranch[] = []
  for (const b of t.branches) branches.push({ ...b, insert: b.insert.slice(), copied: b.copied.slice() })
  return { branches, log: t.log && { ...t.log }, decided: t.decided }
}

export function clone(s: ReshardState): ReshardState {
  const rows: number[][] = []
  for (const r of s.rows) rows.push(r.slice())
  const writers: Writer[] = []
  for (const w of s.writers) writers.push({ ...w })
  const fanOuts: FanOut[] = []
  for (const f of s.fanOuts) fanOuts.push({ ...f })
  const movers: Mover[] = []
  for (const m of s.movers) movers.push({ ...m, tx: m.tx && cloneTx(m.tx) })
  const orphans: MoverTx[] = []
  for (const t of s.orphans) orphans.push(cloneTx(t))
  return {
    ...s,
    fence: s.fence.slice(),
    epochDone: s.epochDone.slice(),
    epochMoving: s.epochMoving.slice(),
    rows,
    writers,
    fanOuts,
    movers,
    orphans,
    committedWrites: s.committedWrites.slice(),
  }
}

const PCS: readonly MoverPc[] = ['idle', 'read-epoch', 'hold', 'read', 'write', 'delete', 'write-log', 'prepare', 'commit', 'unfreeze']
const PLANS: readonly Plan[] = ['start', 'forward', 'reverse', 'none']
const STEPS: readonly MoverStep[] = ['start', 'freeze', 'move', 'unfreeze']
const LOCKS: readonly FenceLock[] = ['none', 'shared', 'exclusive']
const WRITER_PHASES: readonly WriterPhase[] = ['idle', 'open', 'prepared', 'in-doubt', 'done']
const FAN_OUT_PHASES: ReadonlyArray<FanOut['phase']> = ['idle', 'run', 'prepared', 'done']

/**
 * The state's identity for the visited set (the violation is not part of it): every
 * field, in a fixed order, one UTF-16 code unit each (+2, so that -1 fits; 0 marks an
 * absent transaction or log), variable lengths prefixed. Compact, so the visited set
 * hashes and holds millions of states.
 */
export function encode(s: ReshardState): string {
  const out: number[] = []
  putAll(out, s.fence)
  out.push(s.published + 2, s.epochDone.length + 2)
  putAll(out, s.epochDone)
  putAll(out, s.epochMoving)
  out.push(s.jobDone + 2, s.cancelled ? 3 : 2, s.reversed ? 3 : 2, s.failuresLeft + 2)
  for (const r of s.rows) putAll(out, r)
  putAll(out, s.committedWrites)
  for (const w of s.writers) out.push(w.loaded + 2, WRITER_PHASES.indexOf(w.phase) + 2, w.epoch + 2, w.shard + 2, w.left + 2)
  for (const f of s.fanOuts) out.push(f.loaded + 2, FAN_OUT_PHASES.indexOf(f.phase) + 2, f.epoch + 2, f.at + 2, f.touched + 2, f.left + 2)
  for (const m of s.movers) {
    out.push(PCS.indexOf(m.pc) + 2, PLANS.indexOf(m.plan) + 2, STEPS.indexOf(m.step) + 2, m.batch + 2, m.readDone + 2, m.epoch + 2, m.at + 2)
    putTx(out, m.tx)
  }
  out.push(s.orphans.length + 2)
  for (const t of s.orphans) putTx(out, t)
  return String.fromCharCode(...out)
}

function putAll(out: number[], xs: readonly number[]): void {
  for (const x of xs) out.push(x + 2)
}

function putTx(out: number[], t: MoverTx | null): void {
  if (t === null) {
    out.push(0)
    return
  }
  out.push(t.decided ? 3 : 2)
  if (t.log) out.push(t.log.epoch + 2, t.log.done + 2, t.log.moving + 2)
  else out.push(0)
  out.push(t.branches.length + 2)
  for (const b of t.branches) {
    out.push(b.shard + 2, b.prepared ? 3 : 2, LOCKS.indexOf(b.lock) + 2, b.raise + 2, b.remove + 2, b.readLocks + 2)
    putAll(out, b.insert)
    putAll(out, b.copied)
  }
}

/** Every mover transaction still holding branches: the live movers' and the crashed ones'. */
export function allTxs(s: ReshardState): MoverTx[] {
  const txs: MoverTx[] = [...s.orphans]
  for (const m of s.movers) if (m.tx) txs.push(m.tx)
  return txs
}

/** The mover transactions other than live mover `except`'s. */
function otherTxs(s: ReshardState, except: number): MoverTx[] {
  const txs: MoverTx[] = [...s.orphans]
  s.movers.forEach((m, i) => {
    if (i !== except && m.tx) txs.push(m.tx)
  })
  return txs
}

/** The shards a fan-out writer has a branch on: open ones (its statement ran there), or every one of its set once prepared. */
export function fanOutShards(scope: ReshardScope, f: FanOut): number[] {
  if (f.phase === 'prepared') return shardsOf(scope, f.epoch)
  return f.phase === 'run' ? shardsOf(scope, f.epoch).slice(0, f.at) : []
}

/**
 * Someone other than live mover `except` holds the shard's fence shared: a writer's
 * open branch, or a mover's branch (a MOVE copying); a prepared one too where PREPARE
 * keeps shared locks (PostgreSQL).
 */
export function othersShareFence(scope: ReshardScope, s: ReshardState, shard: number, except = -1): boolean {
  const keeps = (prepared: boolean): boolean => !prepared || scope.kinds[shard] === 'pg'
  if (s.writers.some((w) => w.shard === shard && (w.phase === 'open' || ((w.phase === 'prepared' || w.phase === 'in-doubt') && keeps(true))))) return true
  if (s.fanOuts.some((f) => keeps(f.phase === 'prepared') && fanOutShards(scope, f).includes(shard))) return true
  return otherTxs(s, except).some((t) => t.branches.some((b) => b.shard === shard && b.lock === 'shared' && keeps(b.prepared)))
}

/** Someone other than live mover `except` holds the shard's fence exclusively: a live mover, or a prepared branch of a crashed one (exclusive locks survive PREPARE on both engines). */
export function othersHoldFence(s: ReshardState, shard: number, except = -1): boolean {
  return otherTxs(s, except).some((t) => t.branches.some((b) => b.shard === shard && b.lock === 'exclusive'))
}

/** A prepared branch of ours on the shard (what `XA RECOVER`, filtered by prefix and shard id, lists). */
export function preparedBranchOn(scope: ReshardScope, s: ReshardState, shard: number): boolean {
  if (s.writers.some((w) => w.shard === shard && (w.phase === 'prepared' || w.phase === 'in-doubt'))) return true
  if (s.fanOuts.some((f) => f.phase === 'prepared' && shardsOf(scope, f.epoch).includes(shard))) return true
  return allTxs(s).some((t) => t.branches.some((b) => b.shard === shard && b.prepared))
}

/** An application branch (a keyed writer's other than `except`, or a fan-out writer's: a reader takes no row lock), open or prepared, holds the row lock of (shard, key). */
export function appLocksRow(scope: ReshardScope, s: ReshardState, shard: number, key: number, except = -1): boolean {
  const keyed = s.writers.some(
    (w, i) => i !== except && w.shard === shard && scope.writers[i]!.key === key && (w.phase === 'open' || w.phase === 'prepared' || w.phase === 'in-doubt'),
  )
  return keyed || s.fanOuts.some((f, j) => scope.fanOuts![j] === 'write' && (f.touched & (1 << (shard * KEYS + key))) !== 0)
}

/**
 * A mover transaction other than live mover `except`'s holds a row lock of (shard, key)
 * that conflicts with `mode`: a write (insert, delete) conflicts with every lock, a
 * locking read only with a write.
 */
export function moverLocksRow(s: ReshardState, shard: number, key: number, mode: 'write' | 'read' = 'write', except = -1): boolean {
  const bit = 1 << key
  const held = (b: MoverBranch): boolean => b.insert[key]! >= 0 || (b.remove & bit) !== 0 || (mode === 'write' && (b.readLocks & bit) !== 0)
  return otherTxs(s, except).some((t) => t.branches.some((b) => b.shard === shard && held(b)))
}

/** Where the key belongs under the published epoch. */
export function owner(scope: ReshardScope, s: ReshardState, key: number): number {
  return route(scope, key, s.epochDone[s.published]!)
}

/** The batch frozen under the epoch, if its keys include `key`; else -1. */
export function frozenFor(scope: ReshardScope, s: ReshardState, epoch: number, key: number): number {
  const moving = s.epochMoving[epoch]!
  return moving >= 0 && scope.batches[moving]!.keys.includes(key) ? moving : -1
}

/** Publishes a committed topology row. */
export function publish(s: ReshardState, epoch: number, done: number, moving: number): void {
  s.published = epoch
  s.epochDone[epoch] = done
  s.epochMoving[epoch] = moving
}

/**
 * Commits a mover branch's writes on its shard. A delete of a row the MOVE copied
 * checks the row still holds only what the copy read: a write that committed at the
 * source after the read and before the delete would be deleted here and be on no
 * shard (no write lost to a move).
 */
export function applyBranch(s: ReshardState, b: MoverBranch, label: string): void {
  if (b.raise > 0) {
    if (b.raise < s.fence[b.shard]! && s.violation === undefined) s.violation = `${label}: the fence of ${SHARD_NAMES[b.shard]} falls from ${s.fence[b.shard]} to ${b.raise}`
    s.fence[b.shard] = b.raise
  }
  for (let k = 0; k < b.insert.length; k++) {
    if ((b.remove & (1 << k)) !== 0) {
      const lost = Math.max(s.rows[b.shard]![k]!, 0) & ~Math.max(b.copied[k]!, 0)
      if (lost !== 0 && s.violation === undefined) {
        s.violation = `${label}: a write of ${writerNames(lost)} to ${KEY_NAMES[k]} lost to the move: it committed on ${SHARD_NAMES[b.shard]} after the move read the row to copy it, and the move deletes it there`
      }
      s.rows[b.shard]![k] = -1
    }
    if (b.insert[k]! >= 0) s.rows[b.shard]![k] = b.insert[k]!
  }
}
