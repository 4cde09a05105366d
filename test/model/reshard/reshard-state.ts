import { SHARD_NAMES, route, type ReshardScope } from './reshard-scope.js'

/** A branch of a mover's transaction: open, or prepared (committed and rolled-back branches are dropped). */
export interface MoverBranch {
  shard: number
  prepared: boolean
  /** Took the shard's fence exclusively (every branch but the log shard's when the batch does not move its rows). */
  fenced: boolean
  /** The fence value this branch raises the shard to at commit; 0 = leaves it. */
  raise: number
  /** Per key: the row value this branch upserts at commit, -1 = none. */
  insert: number[]
  /** Bitmask of keys this branch deletes at commit. */
  remove: number
}

export interface MoverTx {
  branches: MoverBranch[]
  /** What the log shard's branch writes: the new topology row (epoch, done) and the job row. */
  log: { epoch: number; done: number } | null
  /** The log shard's branch committed: the decision record, and the topology row with it. */
  decided: boolean
}

export type Plan = 'start' | 'forward' | 'reverse'
export type MoverPc = 'idle' | 'read-epoch' | 'hold' | 'copy' | 'delete' | 'write-log' | 'prepare' | 'decide' | 'commit'

export interface Mover {
  pc: MoverPc
  plan: Plan
  batch: number
  /** The job's `done` when the mover read it; the compare-and-set compares with it. */
  readDone: number
  /** The published epoch when the mover read it; the new topology row is this + 1. */
  epoch: number
  /** Position within the fence list (hold) or the batch's keys (copy, delete). */
  at: number
  /** Bitmask of shards whose fence it holds exclusively. */
  holds: number
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

export interface ReshardState {
  /** Committed fence epoch per shard; 0 = no fence row. */
  fence: number[]
  /** The highest active topology row. */
  published: number
  /** Committed topology rows: epochDone[e] = batches done under epoch e (epoch 1: before the job, the old ring). */
  epochDone: number[]
  /** The job row: -1 = none. */
  jobDone: number
  cancelled: boolean
  /** Ghost: a reverse batch has committed (after which no forward batch may). */
  reversed: boolean
  /** Committed rows, rows[shard][key]: -1 = absent, else the bitmask of the writers whose writes it holds. */
  rows: number[][]
  writers: Writer[]
  movers: Mover[]
  /** Transactions of crashed movers with prepared branches, for recovery. */
  orphans: MoverTx[]
  failuresLeft: number
  /** Ghost: per key, the writers whose write to it committed. */
  committedWrites: number[]
  violation: string | undefined
}

export function initialState(scope: ReshardScope): ReshardState {
  return {
    fence: [0, 1, 2].map((s) => (scope.added.includes(s) ? 0 : 1)),
    published: 1,
    epochDone: [0, 0],
    jobDone: -1,
    cancelled: false,
    reversed: false,
    rows: [0, 1, 2].map((s) => scope.oldOwner.map((owner) => (owner === s ? 0 : -1))),
    writers: scope.writers.map((w) => ({ loaded: 1, phase: 'idle', epoch: 0, shard: 0, left: w.transactions })),
    movers: Array.from({ length: scope.movers }, () => ({ pc: 'idle', plan: 'start', batch: 0, readDone: 0, epoch: 0, at: 0, holds: 0, tx: null })),
    orphans: [],
    failuresLeft: scope.failures,
    committedWrites: scope.oldOwner.map(() => 0),
    violation: undefined,
  }
}

const cloneTx = (t: MoverTx): MoverTx => ({
  branches: t.branches.map((b) => ({ ...b, insert: [...b.insert] })),
  log: t.log && { ...t.log },
  decided: t.decided,
})

export function clone(s: ReshardState): ReshardState {
  return {
    ...s,
    fence: [...s.fence],
    epochDone: [...s.epochDone],
    rows: s.rows.map((r) => [...r]),
    writers: s.writers.map((w) => ({ ...w })),
    movers: s.movers.map((m) => ({ ...m, tx: m.tx && cloneTx(m.tx) })),
    orphans: s.orphans.map(cloneTx),
    committedWrites: [...s.committedWrites],
  }
}

/** The state's identity for the visited set (the violation is not part of it). */
export function encode(s: ReshardState): string {
  const tx = (t: MoverTx | null): string =>
    t === null
      ? '-'
      : `${t.decided ? 'D' : ''}${t.log ? `${t.log.epoch}.${t.log.done}` : ''}[${t.branches
          .map((b) => `${b.shard}${b.prepared ? 'p' : 'o'}${b.fenced ? 'f' : ''}${b.raise}i${b.insert.join(',')}r${b.remove}`)
          .join(';')}]`
  return [
    s.fence.join(','),
    s.published,
    s.epochDone.join(','),
    s.jobDone,
    s.cancelled ? 1 : 0,
    s.reversed ? 1 : 0,
    s.rows.map((r) => r.join(',')).join('/'),
    s.writers.map((w) => `${w.loaded}${w.phase[0]}${w.phase[1]}${w.epoch}${w.shard}${w.left}`).join('/'),
    s.movers.map((m) => `${m.pc}${m.plan[0]}${m.batch}.${m.readDone}.${m.epoch}.${m.at}.${m.holds}${tx(m.tx)}`).join('/'),
    s.orphans.map(tx).join('/'),
    s.failuresLeft,
    s.committedWrites.join(','),
  ].join('|')
}

/** Every mover transaction still holding branches: the live movers' and the crashed ones'. */
export function allTxs(s: ReshardState): MoverTx[] {
  const txs: MoverTx[] = [...s.orphans]
  for (const m of s.movers) if (m.tx) txs.push(m.tx)
  return txs
}

/** A branch of a writer that holds the shard's fence shared: open, or prepared where PREPARE keeps shared locks. */
export function writerSharesFence(scope: ReshardScope, s: ReshardState, shard: number): boolean {
  return s.writers.some((w) => w.shard === shard && (w.phase === 'open' || ((w.phase === 'prepared' || w.phase === 'in-doubt') && scope.kinds[shard] === 'pg')))
}

/** Someone holds the shard's fence exclusively: a live mover other than `except`, or a prepared branch of a crashed one (exclusive locks survive PREPARE on both engines). */
export function moverHoldsFence(s: ReshardState, shard: number, except = -1): boolean {
  if (s.movers.some((m, i) => i !== except && (m.holds & (1 << shard)) !== 0)) return true
  return s.orphans.some((t) => t.branches.some((b) => b.shard === shard && b.fenced && b.prepared))
}

/** A prepared branch of ours on the shard (what `XA RECOVER`, filtered by prefix and shard id, lists). */
export function preparedBranchOn(s: ReshardState, shard: number): boolean {
  if (s.writers.some((w) => w.shard === shard && (w.phase === 'prepared' || w.phase === 'in-doubt'))) return true
  return allTxs(s).some((t) => t.branches.some((b) => b.shard === shard && b.prepared))
}

/** A writer's open or prepared branch holds the row lock of (shard, key). */
export function writerLocksRow(scope: ReshardScope, s: ReshardState, shard: number, key: number, except = -1): boolean {
  return s.writers.some(
    (w, i) => i !== except && w.shard === shard && scope.writers[i]!.key === key && (w.phase === 'open' || w.phase === 'prepared' || w.phase === 'in-doubt'),
  )
}

/** A mover's open or prepared branch holds the row lock of (shard, key). */
export function moverLocksRow(s: ReshardState, shard: number, key: number): boolean {
  return allTxs(s).some((t) => t.branches.some((b) => b.shard === shard && (b.insert[key]! >= 0 || (b.remove & (1 << key)) !== 0)))
}

/** Where the key belongs under the published epoch. */
export function owner(scope: ReshardScope, s: ReshardState, key: number): number {
  return route(scope, key, s.epochDone[s.published]!)
}

/** Commits a mover branch's writes on its shard. */
export function applyBranch(s: ReshardState, b: MoverBranch, label: string): void {
  if (b.raise > 0) {
    if (b.raise < s.fence[b.shard]! && s.violation === undefined) s.violation = `${label}: the fence of ${SHARD_NAMES[b.shard]} falls from ${s.fence[b.shard]} to ${b.raise}`
    s.fence[b.shard] = b.raise
  }
  for (let k = 0; k < b.insert.length; k++) {
    if ((b.remove & (1 << k)) !== 0) s.rows[b.shard]![k] = -1
    if (b.insert[k]! >= 0) s.rows[b.shard]![k] = b.insert[k]!
  }
}
