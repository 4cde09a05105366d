import type { MoveLogBugs, MoveLogScope, ShardName } from './movelog-scope.js'

type BranchState = 'active' | 'prepared' | 'committed' | 'rolledback'
type Decision = 'commit' | 'abort'
type LogName = 'L' | 'M'

const SHARDS: readonly ShardName[] = ['L', 'M', 'X']
/** The mover's own transaction: a branch on every shard; the one on L is its log branch (committed with the decision). */
const MOVE = 'MOVE'

interface Tx {
  /** The epoch the transaction routes by; it decides on that epoch's log. */
  epoch: number
  branches: Partial<Record<ShardName, BranchState>>
}

interface Coordinator {
  /** The epoch this process loaded; 0: reload before the next attempt. */
  loaded: number
  phase: 'idle' | 'open' | 'prepare' | 'decide' | 'commit' | 'done'
  tx: string | undefined
  left: number
  attempt: number
}

type MoverPc = 'idle' | 'holding' | 'prepared' | 'decided' | 'done' | 'crashed' | 'aborted'

interface Recoverer {
  pc: 'idle' | 'listed' | 'read' | 'read-first'
  shard: ShardName | undefined
  listed: string[]
  log: LogName | undefined
}

export interface MoveLogState {
  fence: Record<ShardName, { epoch: number; log: LogName }>
  /** The topology rows: the pointer (epoch 2 naming M) on L, and epoch 2 on M. */
  pointerOnL: boolean
  topologyOnM: boolean
  records: Record<LogName, Record<string, Decision>>
  txs: Record<string, Tx>
  coordinators: Coordinator[]
  mover: MoverPc
  /** Shards whose fence the mover holds exclusively (until its branch there ends). */
  held: ShardName[]
  recoverer: Recoverer
  failuresLeft: number
  violation: string | undefined
}

export interface Step {
  label: string
  next: MoveLogState
}

export function initialState(scope: MoveLogScope): MoveLogState {
  return {
    fence: { L: { epoch: 1, log: 'L' }, M: { epoch: 1, log: 'L' }, X: { epoch: 1, log: 'L' } },
    pointerOnL: false,
    topologyOnM: false,
    records: { L: {}, M: {} },
    txs: {},
    coordinators: scope.coordinators.map(() => ({ loaded: 1, phase: 'idle', tx: undefined, left: scope.attempts, attempt: 0 })),
    mover: 'idle',
    held: [],
    recoverer: { pc: 'idle', shard: undefined, listed: [], log: undefined },
    failuresLeft: scope.failures,
    violation: undefined,
  }
}

function clone(s: MoveLogState): MoveLogState {
  return structuredClone(s)
}

const logOfEpoch = (epoch: number): LogName => (epoch === 1 ? 'L' : 'M')

/** A branch of someone else than the mover on the shard, active or prepared: the mover's hold waits for it (PostgreSQL: its shared lock; MariaDB: its lock, then the drain). */
function busy(s: MoveLogState, shard: ShardName): boolean {
  return Object.entries(s.txs).some(([id, tx]) => id !== MOVE && (tx.branches[shard] === 'active' || tx.branches[shard] === 'prepared'))
}

function preparedOn(s: MoveLogState, shard: ShardName): string[] {
  return Object.entries(s.txs)
    .filter(([, tx]) => tx.branches[shard] === 'prepared')
    .map(([id]) => id)
    .sort()
}

/** Records a decision on a log, checking that no epoch-2 transaction is ever decided on the old log. */
function record(n: MoveLogState, log: LogName, txId: string, decision: Decision, label: string): void {
  n.records[log][txId] = decision
  if (log === 'L' && n.txs[txId]?.epoch === 2 && n.violation === undefined) {
    n.violation = `${label}: transaction ${txId} of epoch 2 was decided (${decision}) on the old log L`
  }
}

/** Ends a branch; the mover's branch ending applies what it wrote (fence, topology) or releases its hold. */
function endBranch(n: MoveLogState, txId: string, shard: ShardName, outcome: 'committed' | 'rolledback'): void {
  const tx = n.txs[txId]!
  tx.branches[shard] = outcome
  if (txId === MOVE) {
    n.held = n.held.filter((h) => h !== shard)
    if (outcome === 'committed') {
      n.fence[shard] = { epoch: 2, log: 'M' }
      if (shard === 'L') n.pointerOnL = true
      if (shard === 'M') n.topologyOnM = true
    }
  }
}

function checkAtomicity(n: MoveLogState, label: string): void {
  if (n.violation !== undefined) return
  for (const [id, tx] of Object.entries(n.txs)) {
    const outcomes = Object.values(tx.branches)
    if (outcomes.includes('committed') && outcomes.includes('rolledback')) {
      const where = SHARDS.filter((sh) => tx.branches[sh] !== undefined)
        .map((sh) => `${sh}: ${tx.branches[sh]}`)
        .join(', ')
      n.violation = `${label}: transaction ${id} committed on one shard and rolled back on another (${where})`
      return
    }
  }
}

export function successors(scope: MoveLogScope, s: MoveLogState): Step[] {
  if (s.violation !== undefined) return []
  const bugs: MoveLogBugs = scope.bugs ?? {}
  const out: Step[] = []
  const add = (label: string, change: (n: MoveLogState) => void): void => {
    const n = clone(s)
    change(n)
    checkAtomicity(n, label)
    out.push({ label, next: n })
  }
  s.coordinators.forEach((c, i) => coordinatorSteps(scope, s, c, i, add))
  moverSteps(s, bugs, add)
  recovererSteps(s, bugs, add)
  return out
}

type Add = (label: string, change: (n: MoveLogState) => void) => void

function coordinatorSteps(scope: MoveLogScope, s: MoveLogState, c: Coordinator, i: number, add: Add): void {
  const name = `C${i + 1}`
  const shards = scope.coordinators[i]!
  const me = (n: MoveLogState): Coordinator => n.coordinators[i]!
  const tx = c.tx === undefined ? undefined : s.txs[c.tx]
  /** The attempt ends: its active branches die with the session, prepared ones are rolled back. */
  const giveUp = (n: MoveLogState, reload: boolean): void => {
    const m = me(n)
    for (const sh of shards) {
      const b = n.txs[m.tx!]!.branches[sh]
      if (b === 'active' || b === 'prepared') n.txs[m.tx!]!.branches[sh] = 'rolledback'
    }
    m.phase = m.left > 1 ? 'idle' : 'done'
    m.left--
    m.tx = undefined
    if (reload) m.loaded = 0
  }
  if (c.phase !== 'idle' && c.phase !== 'done' && s.failuresLeft > 0) {
    add(`${name}.crash (${c.phase})`, (n) => {
      n.failuresLeft--
      const m = me(n)
      for (const sh of shards) if (n.txs[m.tx!]!.branches[sh] === 'active') n.txs[m.tx!]!.branches[sh] = 'rolledback'
      m.phase = 'done'
      m.left = 0
      m.tx = undefined
    })
  }
  switch (c.phase) {
    case 'idle': {
      if (c.left === 0) return
      if (c.loaded === 0) {
        // Reads the topology on its configured log L and follows the pointer to M, once M's row is there.
        if (!s.pointerOnL) add(`${name}.load → epoch 1`, (n) => void (me(n).loaded = 1))
        else if (s.topologyOnM) add(`${name}.load → pointer on L → epoch 2 on M`, (n) => void (me(n).loaded = 2))
        return
      }
      add(`${name}.begin (epoch ${c.loaded}, log ${logOfEpoch(c.loaded)})`, (n) => {
        const m = me(n)
        m.attempt++
        m.tx = `${name}.${m.attempt}`
        n.txs[m.tx] = { epoch: m.loaded, branches: {} }
        m.phase = 'open'
      })
      return
    }
    case 'open': {
      const shard = shards.find((sh) => tx!.branches[sh] === undefined)!
      if (s.held.includes(shard)) {
        add(`${name}.open(${shard}): fence held by the mover, NOWAIT → retryable conflict`, (n) => giveUp(n, false))
      } else if (s.fence[shard].epoch > tx!.epoch) {
        add(`${name}.open(${shard}): fence at epoch ${s.fence[shard].epoch} > ${tx!.epoch} → stale, reload`, (n) => giveUp(n, true))
      } else {
        add(`${name}.open(${shard}) at epoch ${tx!.epoch}`, (n) => {
          n.txs[me(n).tx!]!.branches[shard] = 'active'
          if (shards.every((sh) => n.txs[me(n).tx!]!.branches[sh] !== undefined)) me(n).phase = 'prepare'
        })
      }
      return
    }
    case 'prepare': {
      const shard = shards.find((sh) => tx!.branches[sh] === 'active')
      if (shard === undefined) {
        // A recoverer rolled a prepared branch back: the decision will be abort.
        add(`${name}.prepared all`, (n) => void (me(n).phase = 'decide'))
        return
      }
      add(`${name}.prepare(${shard})`, (n) => {
        n.txs[me(n).tx!]!.branches[shard] = 'prepared'
        if (!shards.some((sh) => n.txs[me(n).tx!]!.branches[sh] === 'active')) me(n).phase = 'decide'
      })
      return
    }
    case 'decide': {
      const log = logOfEpoch(tx!.epoch)
      const found = s.records[log][c.tx!]
      if (found === 'abort') {
        add(`${name}.decide on ${log}: fenced by an abort record → roll back`, (n) => giveUp(n, false))
      } else {
        add(`${name}.decide commit on ${log}`, (n) => {
          record(n, log, me(n).tx!, 'commit', `${name}.decide`)
          me(n).phase = 'commit'
        })
      }
      return
    }
    case 'commit': {
      const shard = shards.find((sh) => tx!.branches[sh] === 'prepared')
      if (shard === undefined) {
        add(`${name}.committed`, (n) => {
          const m = me(n)
          m.phase = 'done'
          m.left = 0
          m.tx = undefined
        })
        return
      }
      add(`${name}.commit(${shard})`, (n) => endBranch(n, me(n).tx!, shard, 'committed'))
      return
    }
    case 'done':
      return
  }
}

/**
 * The move as one two-phase transaction: hold L, M, X in order (each waits until no
 * other branch is active or prepared there), write (prepare M and X; L is the log
 * branch), decide on L (its one-phase commit: the commit record, L's fence, the
 * pointer), then commit M (its fence, the topology there) and X (its fence).
 */
function moverSteps(s: MoveLogState, bugs: MoveLogBugs, add: Add): void {
  const toHold = SHARDS.filter((sh) => !(bugs.moveSkipsHoldOfX && sh === 'X'))
  if ((s.mover === 'holding' || s.mover === 'prepared' || s.mover === 'decided') && s.failuresLeft > 0) {
    add(`mover.crash (${s.mover})`, (n) => {
      n.failuresLeft--
      const move = n.txs[MOVE]!
      for (const sh of SHARDS) if (move.branches[sh] === 'active') endBranch(n, MOVE, sh, 'rolledback')
      n.mover = 'crashed'
    })
  }
  switch (s.mover) {
    case 'idle':
      add('mover.begin (epoch 1)', (n) => {
        n.mover = 'holding'
        n.txs[MOVE] = { epoch: 1, branches: {} }
      })
      return
    case 'holding': {
      const next = toHold.find((sh) => !s.held.includes(sh))
      if (next !== undefined) {
        if (!busy(s, next)) {
          add(`mover.hold(${next})`, (n) => {
            n.held.push(next)
            n.txs[MOVE]!.branches[next] = 'active'
          })
        }
        return
      }
      add(`mover.copy history, write epoch 2, prepare M${bugs.moveSkipsHoldOfX ? ' and X (X never held: seeded bug)' : ' and X'}`, (n) => {
        const move = n.txs[MOVE]!
        move.branches.M = 'prepared'
        move.branches.X = 'prepared'
        n.mover = 'prepared'
      })
      return
    }
    case 'prepared': {
      if (s.records.L[MOVE] === 'abort' || s.txs[MOVE]!.branches.M === 'rolledback' || s.txs[MOVE]!.branches.X === 'rolledback') {
        add('mover.decide on L: fenced by a recoverer → roll back', (n) => {
          for (const sh of SHARDS) {
            const b = n.txs[MOVE]!.branches[sh]
            if (b === 'active' || b === 'prepared') endBranch(n, MOVE, sh, 'rolledback')
          }
          n.mover = 'aborted'
        })
        return
      }
      add('mover.decide commit on L (L: fence 2/M, pointer)', (n) => {
        record(n, 'L', MOVE, 'commit', 'mover.decide')
        endBranch(n, MOVE, 'L', 'committed')
        n.mover = 'decided'
      })
      return
    }
    case 'decided': {
      const shard = (['M', 'X'] as const).find((sh) => s.txs[MOVE]!.branches[sh] === 'prepared')
      if (shard === undefined) {
        add('mover.done', (n) => void (n.mover = 'done'))
        return
      }
      add(`mover.commit(${shard}) (fence 2/M${shard === 'M' ? ', topology on M' : ''})`, (n) => endBranch(n, MOVE, shard, 'committed'))
      return
    }
    default:
      return
  }
}

/**
 * A recoverer that loaded epoch 1 (log L) and never reloads. A round on one shard:
 * list its prepared branches, read its fence (after the listing), then decide each
 * listed transaction on the log the fence names (insert abort unless a record
 * stands) and finish the branch if it is still prepared.
 */
function recovererSteps(s: MoveLogState, bugs: MoveLogBugs, add: Add): void {
  const r = s.recoverer
  const ownLog: LogName = 'L'
  switch (r.pc) {
    case 'idle':
      for (const shard of SHARDS) {
        if (preparedOn(s, shard).length === 0) continue
        if (bugs.fenceReadBeforeListing) {
          add(`R.readFence(${shard}) → ${s.fence[shard].log} (before listing: seeded bug)`, (n) => {
            n.recoverer = { pc: 'read-first', shard, listed: [], log: s.fence[shard].log }
          })
        } else {
          add(`R.list(${shard}) → ${preparedOn(s, shard).join(', ')}`, (n) => {
            n.recoverer = { pc: 'listed', shard, listed: preparedOn(s, shard), log: undefined }
          })
        }
      }
      return
    case 'read-first': {
      const listed = preparedOn(s, r.shard!)
      add(`R.list(${r.shard}) → ${listed.join(', ') || 'nothing'}`, (n) => {
        n.recoverer = { ...n.recoverer, pc: 'read', listed }
      })
      return
    }
    case 'listed': {
      const log = bugs.recovererUsesOwnLog ? ownLog : s.fence[r.shard!].log
      add(
        bugs.recovererUsesOwnLog ? `R.uses its own log ${ownLog} (seeded bug)` : `R.readFence(${r.shard}) → epoch ${s.fence[r.shard!].epoch}, log ${log}`,
        (n) => {
          n.recoverer = { ...n.recoverer, pc: 'read', log }
        },
      )
      return
    }
    case 'read': {
      const txId = r.listed[0]
      if (txId === undefined) {
        add('R.round done', (n) => void (n.recoverer = { pc: 'idle', shard: undefined, listed: [], log: undefined }))
        return
      }
      const log = r.log!
      const decision = s.records[log][txId] ?? 'abort'
      add(`R.decide ${txId} on ${log} → ${decision}; finish its branch on ${r.shard}`, (n) => {
        if (n.records[log][txId] === undefined) record(n, log, txId, 'abort', `R.decide ${txId}`)
        if (n.txs[txId]!.branches[r.shard!] === 'prepared') endBranch(n, txId, r.shard!, decision === 'commit' ? 'committed' : 'rolledback')
        n.recoverer.listed = n.recoverer.listed.slice(1)
      })
      return
    }
  }
}

/** Where a run that cannot go on must be: everything settled, fences and stored topology agreeing on one epoch. */
export function unfinished(s: MoveLogState): string | undefined {
  for (const [id, tx] of Object.entries(s.txs)) {
    for (const sh of SHARDS) if (tx.branches[sh] === 'active' || tx.branches[sh] === 'prepared') return `transaction ${id} left ${tx.branches[sh]} on ${sh}`
  }
  const notDone = s.coordinators.findIndex((c) => c.phase !== 'done' && !(c.phase === 'idle' && c.left === 0))
  if (notDone !== -1) return `coordinator C${notDone + 1} is stuck in ${s.coordinators[notDone]!.phase}`
  if (s.held.length > 0) return `the mover still holds ${s.held.join(', ')}`
  const epochs = new Set(SHARDS.map((sh) => `${s.fence[sh].epoch}/${s.fence[sh].log}`))
  if (epochs.size !== 1) return `the fences disagree: ${SHARDS.map((sh) => `${sh} ${s.fence[sh].epoch}/${s.fence[sh].log}`).join(', ')}`
  const moved = s.fence.L.epoch === 2
  if (s.pointerOnL !== moved || s.topologyOnM !== moved) return `the stored topology (pointer on L: ${s.pointerOnL}, epoch 2 on M: ${s.topologyOnM}) disagrees with the fences`
  return undefined
}
