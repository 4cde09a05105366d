import type { FenceBugs, FenceScope } from './fence-scope.js'

type Shard = 'A' | 'B'

/** A writer's transaction, one branch on the shard its epoch routes the key to. */
type WriterPhase = 'idle' | 'open' | 'prepared' | 'in-doubt' | 'done'

interface Writer {
  /** The epoch this process routes by; 0 = must (re)load it first. */
  loaded: number
  phase: WriterPhase
  /** The routing of the running transaction. */
  epoch: number
  shard: Shard
  /** Holds the shard's fence shared (from the fence read until its lock is released). */
  holdsFence: boolean
  left: number
}

type MoverPc =
  | 'idle'
  | 'claimed'
  | 'holding-A'
  | 'holding-both'
  | 'raised-A'
  | 'raised-B'
  | 'raised-B-published'
  | 'raised-both'
  | 'published'
  | 'crashed'

export interface FenceState {
  active: number
  fence: Record<Shard, number>
  /** The mover holds the fence exclusively. */
  moverHolds: Record<Shard, boolean>
  mover: MoverPc
  writers: Writer[]
  failuresLeft: number
  /** Highest epoch any committed write of the key carried. */
  maxCommitted: number
  violation: string | undefined
}

export interface Step {
  label: string
  next: FenceState
}

function clone(s: FenceState): FenceState {
  return { ...s, fence: { ...s.fence }, moverHolds: { ...s.moverHolds }, writers: s.writers.map((w) => ({ ...w })) }
}

const owner = (epoch: number): Shard => (epoch === 1 ? 'A' : 'B')

export function initialState(scope: FenceScope): FenceState {
  return {
    active: 1,
    fence: { A: 1, B: 0 },
    moverHolds: { A: false, B: false },
    mover: 'idle',
    writers: Array.from({ length: scope.writers }, () => ({ loaded: 1, phase: 'idle', epoch: 0, shard: 'A', holdsFence: false, left: scope.transactionsEach })),
    failuresLeft: scope.failures,
    maxCommitted: 0,
    violation: undefined,
  }
}

/** The invariant, checked where a write commits: never under an epoch other than the shard's, never behind a newer epoch's write. */
function commitWrite(s: FenceState, w: Writer, label: string): void {
  if (s.fence[w.shard] !== w.epoch && s.violation === undefined) {
    s.violation = `${label}: a write under epoch ${w.epoch} committed on ${w.shard}, whose fence is at epoch ${s.fence[w.shard]}`
  }
  if (w.epoch < s.maxCommitted && s.violation === undefined) {
    s.violation = `${label}: a write under epoch ${w.epoch} committed after one under epoch ${s.maxCommitted}`
  }
  s.maxCommitted = Math.max(s.maxCommitted, w.epoch)
}

function preparedOn(s: FenceState, shard: Shard): boolean {
  return s.writers.some((w) => w.shard === shard && (w.phase === 'prepared' || w.phase === 'in-doubt'))
}

function fenceHeldShared(s: FenceState, shard: Shard): boolean {
  return s.writers.some((w) => w.shard === shard && w.holdsFence)
}

export function successors(scope: FenceScope, s: FenceState): Step[] {
  if (s.violation !== undefined) return []
  const bugs: FenceBugs = scope.bugs ?? {}
  const out: Step[] = []
  const add = (label: string, change: (n: FenceState) => void): void => {
    const n = clone(s)
    change(n)
    out.push({ label, next: n })
  }
  s.writers.forEach((w, i) => writerSteps(scope, s, w, i, bugs, add))
  moverSteps(scope, s, bugs, add)
  return out
}

function writerSteps(
  scope: FenceScope,
  s: FenceState,
  w: Writer,
  i: number,
  bugs: FenceBugs,
  add: (label: string, change: (n: FenceState) => void) => void,
): void {
  const name = `W${i + 1}`
  const me = (n: FenceState): Writer => n.writers[i]!
  switch (w.phase) {
    case 'idle': {
      if (w.left === 0) return
      if (w.loaded === 0) {
        add(`${name}.loadTopology → epoch ${s.active}`, (n) => {
          me(n).loaded = n.active
        })
        return
      }
      if (w.loaded !== s.active) {
        // A process that starts now (or restarts) loads the published topology without being refused first.
        add(`${name}.restart: loadTopology → epoch ${s.active}`, (n) => {
          me(n).loaded = n.active
        })
      }
      const shard = owner(w.loaded)
      // NOWAIT: while the mover holds the fence the branch fails at once (retryable): no state change to explore.
      if (s.moverHolds[shard] && !bugs.fenceReadWithoutLock) return
      if (s.fence[shard] !== w.loaded) {
        add(`${name}.begin(${shard}, epoch ${w.loaded}): stale, shard at ${s.fence[shard]} → reload`, (n) => {
          me(n).loaded = 0
        })
        return
      }
      add(`${name}.begin(${shard}, epoch ${w.loaded}): fence passed${bugs.fenceReadWithoutLock ? ' without its lock (seeded bug)' : ''}; write`, (n) => {
        Object.assign(me(n), { phase: 'open', epoch: w.loaded, shard, holdsFence: !bugs.fenceReadWithoutLock })
      })
      return
    }
    case 'open':
      add(`${name}.prepare(${w.shard})`, (n) => {
        me(n).phase = 'prepared'
        // MariaDB releases the shared lock at XA PREPARE; PostgreSQL moves it to the prepared transaction.
        if (scope.kinds[w.shard] === 'mysql') me(n).holdsFence = false
      })
      if (s.failuresLeft > 0) {
        add(`${name}.crash: open branch rolled back`, (n) => {
          n.failuresLeft--
          Object.assign(me(n), { phase: 'idle', holdsFence: false, left: w.left - 1 })
        })
      }
      return
    case 'prepared':
      add(`${name}.commit(${w.shard})`, (n) => {
        commitWrite(n, me(n), `${name}.commit(${w.shard})`)
        Object.assign(me(n), { phase: w.left > 1 ? 'idle' : 'done', holdsFence: false, left: w.left - 1 })
      })
      if (s.failuresLeft > 0) {
        add(`${name}.crash after PREPARE: in doubt`, (n) => {
          n.failuresLeft--
          me(n).phase = 'in-doubt'
        })
      }
      return
    case 'in-doubt':
      // Recovery settles it either way; the branch keeps (pg) or lost (mysql) the fence lock.
      add(`recover(${name}): commit`, (n) => {
        commitWrite(n, me(n), `recover(${name}): commit`)
        Object.assign(me(n), { phase: 'done', holdsFence: false, left: 0 })
      })
      add(`recover(${name}): roll back`, (n) => {
        Object.assign(me(n), { phase: 'done', holdsFence: false, left: 0 })
      })
      return
    case 'done':
      return
  }
}

function moverSteps(scope: FenceScope, s: FenceState, bugs: FenceBugs, add: (label: string, change: (n: FenceState) => void) => void): void {
  const canHold = (shard: Shard): boolean =>
    !fenceHeldShared(s, shard) && (scope.kinds[shard] === 'pg' || bugs.skipPreparedDrain === true || !preparedOn(s, shard))
  const releaseAll = (n: FenceState): void => {
    n.moverHolds = { A: false, B: false }
  }
  // Raising a fence commits the mover's transaction on that shard, which releases it.
  const raise = (shard: Shard, then: MoverPc): void =>
    add(`M.raise(${shard})`, (n) => {
      n.fence[shard] = 2
      n.moverHolds[shard] = false
      n.mover = then
    })
  if (s.mover !== 'idle' && s.mover !== 'published' && s.mover !== 'crashed' && s.failuresLeft > 0) {
    add('M.crash: its sessions end, every fence it held is released', (n) => {
      n.failuresLeft--
      n.mover = 'crashed'
      releaseAll(n)
    })
  }
  switch (s.mover) {
    case 'idle':
      add('M.claim(epoch 2)', (n) => {
        n.mover = 'claimed'
      })
      return
    case 'crashed':
      // Run again: nothing to do once the change is published; else it takes over the pending claim.
      if (s.active === 2) return
      add('M.run again: take over the pending claim', (n) => {
        n.mover = 'claimed'
      })
      return
    case 'claimed':
      if (canHold('A')) {
        add('M.hold(A)', (n) => {
          n.moverHolds.A = true
          n.mover = 'holding-A'
        })
      }
      return
    case 'holding-A':
      if (canHold('B')) {
        add('M.hold(B)', (n) => {
          n.moverHolds.B = true
          n.mover = 'holding-both'
        })
      }
      add('M.hold(B): timed out → release all, back off', (n) => {
        releaseAll(n)
        n.mover = 'claimed'
      })
      return
    case 'holding-both':
      raise('A', 'raised-A')
      raise('B', 'raised-B')
      return
    case 'raised-A':
      raise('B', 'raised-both')
      return
    case 'raised-B':
      if (bugs.publishBeforeAllRaised) {
        add('M.publish(epoch 2) before A is raised (seeded bug)', (n) => {
          n.active = 2
          n.mover = 'raised-B-published'
        })
      }
      raise('A', 'raised-both')
      return
    case 'raised-B-published':
      raise('A', 'published')
      return
    case 'raised-both':
      add('M.publish(epoch 2)', (n) => {
        n.active = 2
        n.mover = 'published'
      })
      return
    case 'published':
      return
  }
}
