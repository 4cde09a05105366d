import { KEY_NAMES, LOG_SHARD, SHARD_NAMES, type Batch, type ReshardScope } from './reshard-scope.js'
import {
  applyBranch,
  moverLocksRow,
  othersHoldFence,
  othersShareFence,
  preparedBranchOn,
  publish,
  appLocksRow,
  type FenceLock,
  type Mover,
  type MoverBranch,
  type MoverTx,
  type ReshardState,
} from './reshard-state.js'
import { refuses, type Add } from './writer-steps.js'

const name = (i: number): string => `M${i + 1}`
const shardNames = (mask: number): string => SHARD_NAMES.filter((_, s) => (mask & (1 << s)) !== 0).join(',') || 'nothing'
const newTx = (): MoverTx => ({ branches: [], log: null, decided: false })
const idle: Partial<Mover> = { pc: 'idle', tx: null, at: 0 }

/** Source and destination of the mover's batch: a reverse batch runs the batch backwards. */
function ends(scope: ReshardScope, m: Mover): { from: number; to: number; batch: Batch } {
  const batch = scope.batches[m.batch]!
  return m.plan === 'reverse' ? { from: batch.to, to: batch.from, batch } : { from: batch.from, to: batch.to, batch }
}

/** The fences the transaction takes exclusively, in id order: every shard to start the job, the source to freeze a batch, source and destination (at the end) to move it. */
function fenceList(scope: ReshardScope, m: Mover): number[] {
  if (m.step === 'start') return [0, 1, 2]
  const { from, to } = ends(scope, m)
  return m.step === 'freeze' ? [from] : [from, to].sort((a, b) => a - b)
}

function branchOn(tx: MoverTx, shard: number, lock: FenceLock): MoverBranch {
  let b = tx.branches.find((x) => x.shard === shard)
  if (!b) {
    b = { shard, prepared: false, lock, raise: 0, insert: [-1, -1], remove: 0, copied: [-1, -1], readLocks: 0 }
    tx.branches.push(b)
    tx.branches.sort((x, y) => x.shard - y.shard)
  }
  return b
}

const writes = (b: MoverBranch): boolean => b.raise > 0 || b.remove !== 0 || b.insert.some((v) => v >= 0)

/** An uncommitted log-shard branch of a live mover other than `except`: it holds the job row's lock and its topology row's primary key. */
const pendingLog = (s: ReshardState, except: number): MoverTx['log'] =>
  s.movers.find((o, j) => j !== except && o.tx?.log && !o.tx.decided)?.tx?.log ?? null

/**
 * A mover runs the job one transaction at a time, each a run of its own: read the
 * job row, read the published topology, then
 * - no job: the job start (every fence held and raised, job row and topology row 2);
 * - the batch to move (forward `done`, reverse `done - 1`) and nothing frozen: FREEZE
 *   (the job row compared unchanged, topology row E+1 with `moving`, then hold the
 *   source's fence and raise it), then at once, in the same run, MOVE;
 * - that batch frozen: MOVE (open the source and destination with shared fence locks at
 *   the frozen epoch, per key read at the source, insert at the destination, delete at
 *   the source, compare-and-set `done`, topology row E+1, then hold both fences
 *   exclusively and raise both);
 * The job start holds every fence first; a FREEZE or a MOVE holds its fences last, as
 * the implementation does, so that they are held only for the raise and the commit.
 * - another batch frozen (or nothing to move and a batch frozen): UNFREEZE (topology row
 *   E+1 = the frozen row without `moving`; no fence).
 * A 2PC step goes write log, prepare, decide (commit the log shard's branch: decision
 * record and topology row in one commit), commit prepared. Any wait that cannot be
 * granted now may time out: everything is rolled back, the mover starts over. It may
 * be killed between any two steps, FREEZE and MOVE included.
 */
export function moverSteps(scope: ReshardScope, s: ReshardState, i: number, add: Add): void {
  const m = s.movers[i]!
  const M = name(i)
  const me = (n: ReshardState): Mover => n.movers[i]!
  const bugs = scope.bugs ?? {}
  const abort = (label: string): void =>
    add(`${M}.${label} → roll back, start over`, (n) => {
      Object.assign(me(n), idle)
    })

  if (m.tx !== null && s.failuresLeft > 0) {
    const prepared = m.tx.branches.filter((b) => b.prepared).length
    const where = m.step === 'move' && m.tx.branches.length === 0 ? ' before its MOVE (batch frozen)' : ''
    add(`${M}.crash${where}: its sessions end, open branches roll back${prepared > 0 ? `, ${prepared} prepared left to recovery` : ''}`, (n) => {
      n.failuresLeft--
      const tx = me(n).tx!
      tx.branches = tx.branches.filter((b) => b.prepared)
      if (tx.branches.length > 0) n.orphans.push(tx)
      Object.assign(me(n), idle)
    })
  }

  switch (m.pc) {
    case 'idle':
      return readJob(scope, s, i, add)
    case 'read-epoch':
      return readTopology(scope, s, i, add)
    case 'hold': {
      const fences = fenceList(scope, m)
      const shard = fences[m.at]!
      // A batch's steps drain our prepared branches on a MariaDB fence; the job start does not (it moves no slot, so a branch prepared before it commits on a shard that still owns its key).
      const drains = scope.kinds[shard] === 'mysql' && m.step !== 'start'
      const drain = drains && !bugs.skipPreparedDrain
      if (othersShareFence(scope, s, shard, i) || othersHoldFence(s, shard, i) || (drain && preparedBranchOn(scope, s, shard))) {
        abort(`hold(${SHARD_NAMES[shard]}): timed out`)
        return
      }
      const drained = drains ? (bugs.skipPreparedDrain ? ', drain skipped (seeded bug)' : ', no prepared branch left') : ''
      const last = m.at + 1 === fences.length
      const raised = last && m.step !== 'start' ? raisedShards(scope, m) : 0
      const raise = last && m.step !== 'start' ? `; raise ${shardNames(raised)}${raised ? ` to ${m.tx!.log!.epoch}` : ''}` : ''
      add(`${M}.hold(${SHARD_NAMES[shard]})${drained}${raise}`, (n) => {
        const mm = me(n)
        branchOn(mm.tx!, shard, 'exclusive').lock = 'exclusive'
        mm.at++
        if (!last) return
        // The job start writes the log with every fence held; a FREEZE or a MOVE has written it already and holds its fences last, for the raise and the commit.
        if (mm.step === 'start') Object.assign(mm, { pc: 'write-log', at: 0 })
        else {
          for (const b of mm.tx!.branches) if ((raised & (1 << b.shard)) !== 0) b.raise = mm.tx!.log!.epoch
          Object.assign(mm, { pc: 'prepare', at: 0 })
        }
      })
      return
    }
    case 'read':
    case 'write':
    case 'delete':
      return copySteps(scope, s, i, add, abort)
    case 'write-log':
      return writeLog(scope, s, i, add, abort)
    case 'prepare': {
      const toPrepare = m.tx!.branches.filter((b) => b.shard !== LOG_SHARD && !b.prepared && writes(b))
      if (toPrepare.length === 0) {
        add(`${M}.decide: commit the log branch (decision record, topology row ${m.tx!.log!.epoch} published)`, (n) => decide(n, i))
        return
      }
      for (const b of toPrepare) {
        add(`${M}.prepare(${SHARD_NAMES[b.shard]})`, (n) => {
          me(n).tx!.branches.find((x) => x.shard === b.shard)!.prepared = true
        })
      }
      return
    }
    case 'commit':
      for (const b of m.tx!.branches) {
        add(`${M}.commitPrepared(${SHARD_NAMES[b.shard]})`, (n) => {
          const mm = me(n)
          const tx = mm.tx!
          applyBranch(n, tx.branches.find((x) => x.shard === b.shard)!, `${M}.commitPrepared(${SHARD_NAMES[b.shard]})`)
          tx.branches = tx.branches.filter((x) => x.shard !== b.shard)
          if (tx.branches.length === 0) stepDone(mm, tx)
        })
      }
      return
    case 'unfreeze':
      return unfreeze(scope, s, i, add)
  }
}

/**
 * The job row, and what the run will do. A run that would read the job and the
 * topology and then do nothing (the job over and nothing frozen) changes nothing, so it
 * is not a step: a state where no actor has anything to do is one the model can end in.
 */
function readJob(scope: ReshardScope, s: ReshardState, i: number, add: Add): void {
  const n = scope.batches.length
  let plan: Pick<Mover, 'plan' | 'batch'> | undefined
  if (s.jobDone < 0) plan = { plan: 'start', batch: 0 }
  else if (!s.cancelled && s.jobDone < n) plan = { plan: 'forward', batch: s.jobDone }
  else if (s.cancelled && s.jobDone > 0) plan = { plan: 'reverse', batch: s.jobDone - 1 }
  else if (s.epochMoving[s.published]! >= 0 && !scope.bugs?.idleIgnoresFrozen) plan = { plan: 'none', batch: 0 }
  if (!plan) return
  const what =
    plan.plan === 'start'
      ? 'no job: start it'
      : `done ${s.jobDone}${s.cancelled ? ', cancelled' : ''}: ${plan.plan === 'none' ? 'no batch to move' : `batch ${plan.batch + 1} ${plan.plan}`}`
  add(`${name(i)}.readJob → ${what}`, (n) => {
    Object.assign(n.movers[i]!, { ...plan, pc: 'read-epoch', readDone: s.jobDone, at: 0, tx: null })
  })
}

/** The published topology decides the run's step: start, FREEZE, MOVE or UNFREEZE. */
function readTopology(scope: ReshardScope, s: ReshardState, i: number, add: Add): void {
  const m = s.movers[i]!
  if (s.published + 1 > scope.maxEpoch) return
  const e = s.published
  const moving = s.epochMoving[e]!
  const label = `${name(i)}.readTopology → epoch ${e}${moving >= 0 ? `, batch ${moving + 1} frozen` : ''}`
  const set = (next: Partial<Mover>, what: string): void =>
    add(`${label}: ${what}`, (n) => {
      Object.assign(n.movers[i]!, { epoch: e, at: 0, ...next })
    })
  if (m.plan === 'start') set({ pc: 'hold', step: 'start', tx: newTx() }, 'start the job')
  else if (m.plan === 'none' && moving < 0) set({ pc: 'idle' }, 'nothing to do')
  else if (m.plan === 'none' || (moving >= 0 && moving !== m.batch)) set({ pc: 'unfreeze', step: 'unfreeze', readDone: s.epochDone[e]! }, 'UNFREEZE')
  else if (moving < 0) set({ pc: 'write-log', step: 'freeze', tx: newTx() }, `FREEZE batch ${m.batch + 1}`)
  else set({ pc: 'read', step: 'move', tx: newTx() }, `MOVE batch ${m.batch + 1}`)
}

/**
 * The MOVE's copy, per key of the batch: read at the source, insert at the
 * destination, delete at the source, with no exclusive fence: each branch opens with
 * the fence's shared lock at the frozen epoch (refused like any branch when the fence
 * is ahead, waiting when someone holds it exclusively).
 */
function copySteps(scope: ReshardScope, s: ReshardState, i: number, add: Add, abort: (label: string) => void): void {
  const m = s.movers[i]!
  const M = name(i)
  const { from, to, batch } = ends(scope, m)
  const key = batch.keys[m.at]!
  const k = KEY_NAMES[key]
  const shard = m.pc === 'write' ? to : from
  const tx = m.tx!
  if (!tx.branches.some((b) => b.shard === shard)) {
    if (othersHoldFence(s, shard, i)) return abort(`open(${SHARD_NAMES[shard]}): fence held exclusively, timed out`)
    if (refuses(scope.bugs ?? {}, s.fence[shard]!, m.epoch)) return abort(`open(${SHARD_NAMES[shard]}, epoch ${m.epoch}): refused, fence at ${s.fence[shard]}`)
  }
  const me = (n: ReshardState): Mover => n.movers[i]!
  if (m.pc === 'read') {
    const locking = scope.copyRead === 'locking'
    if (locking && (appLocksRow(scope, s, from, key) || moverLocksRow(s, from, key, 'read', i))) return abort(`read(${k}, ${SHARD_NAMES[from]}): lock wait timed out`)
    const value = s.rows[from]![key]!
    add(`${M}.read(${k}, ${SHARD_NAMES[from]})${value < 0 ? ': no row' : ''}`, (n) => {
      const b = branchOn(me(n).tx!, from, 'shared')
      b.copied[key] = value
      if (locking) b.readLocks |= 1 << key
      me(n).pc = 'write'
    })
    return
  }
  // An insert or delete waits for any other row lock there.
  if (appLocksRow(scope, s, shard, key) || moverLocksRow(s, shard, key, 'write', i)) return abort(`${m.pc}(${k}, ${SHARD_NAMES[shard]}): lock wait timed out`)
  if (m.pc === 'write') {
    const value = tx.branches.find((b) => b.shard === from)!.copied[key]!
    add(`${M}.write(${k}, ${SHARD_NAMES[from]} → ${SHARD_NAMES[to]}): ${value < 0 ? 'no row' : 'insert'}`, (n) => {
      const b = branchOn(me(n).tx!, to, 'shared')
      if (value >= 0) b.insert[key] = value
      me(n).pc = 'delete'
    })
    return
  }
  add(`${M}.delete(${k}, ${SHARD_NAMES[from]})`, (n) => {
    const mm = me(n)
    branchOn(mm.tx!, from, 'shared').remove |= 1 << key
    mm.at++
    if (mm.at === batch.keys.length) Object.assign(mm, { pc: 'write-log', at: 0 })
    else mm.pc = 'read'
  })
}

/** The log shard's writes: the job row (inserted, compared, or compared and advanced), the next topology row; and the fence raises. */
function writeLog(scope: ReshardScope, s: ReshardState, i: number, add: Add, abort: (label: string) => void): void {
  const m = s.movers[i]!
  const bugs = scope.bugs ?? {}
  // The job row (and the topology row's key) are locked by another mover's uncommitted log branch: wait, bounded.
  if (pendingLog(s, i)) return abort('writeLog: job row locked, timed out')
  const epoch = m.epoch + 1
  if (s.epochDone[epoch] !== undefined) return abort(`writeLog: topology row ${epoch} exists (primary key)`)
  if (m.step === 'start' && s.jobDone >= 0) return abort('writeLog: the job row exists (primary key)')
  if (m.step !== 'start' && s.jobDone !== m.readDone && !bugs.skipDoneCas) return abort(`writeLog: compare-and-set done ${m.readDone} → ${s.jobDone} found`)
  if (m.step !== 'start' && scope.jobCas === 'done-and-state' && s.cancelled !== (m.plan === 'reverse')) {
    return abort(`writeLog: compare-and-set on the job's state: ${s.cancelled ? 'cancelled' : 'running'} found`)
  }
  const done = m.step === 'move' ? (m.plan === 'forward' ? m.readDone + 1 : m.readDone - 1) : m.step === 'freeze' ? m.readDone : 0
  const moving = m.step === 'freeze' ? m.batch : -1
  const state = scope.jobCas === 'done-and-state' ? (m.plan === 'forward' ? ' where running' : ' where cancelled') : ''
  const compared = bugs.skipDoneCas ? `${m.step === 'move' ? `set done = ${done}` : 'done'} (no compare, seeded bug)` : `compare-and-set done ${m.readDone} → ${done}${state}`
  const unchanged = bugs.skipDoneCas ? compared : `compare-and-set done ${m.readDone} unchanged${state}`
  const cas = m.step === 'start' ? 'insert the job row' : m.step === 'freeze' ? unchanged : compared
  // The job start holds every fence first and raises them here; a FREEZE or a MOVE writes the log first and raises when its fences are held last (see 'hold').
  const raised = m.step === 'start' ? raisedShards(scope, m) : 0
  const skipHold = m.step === 'move' && bugs.moveSkipsFinalHold
  const row = `topology row ${epoch}${moving >= 0 ? ` (batch ${moving + 1} moving)` : ''}`
  const then = m.step === 'start' ? `; raise ${shardNames(raised)} to ${epoch}` : skipHold ? '; no final hold (seeded bug)' : '; then hold'
  add(`${name(i)}.writeLog: ${cas}; ${row}${then}`, (n) => {
    const mm = n.movers[i]!
    const tx = mm.tx!
    branchOn(tx, LOG_SHARD, 'none')
    tx.log = { epoch, done, moving }
    for (const b of tx.branches) if ((raised & (1 << b.shard)) !== 0) b.raise = epoch
    Object.assign(mm, { pc: m.step === 'start' || skipHold ? 'prepare' : 'hold', at: 0 })
  })
}

function raisedShards(scope: ReshardScope, m: Mover): number {
  if (m.step === 'start') return 0b111
  const { from, to } = ends(scope, m)
  const bugs = scope.bugs ?? {}
  if (m.step === 'freeze') return bugs.freezeSkipsSourceRaise ? 0 : 1 << from
  return (bugs.raiseDestinationOnly ? 0 : 1 << from) | (bugs.raiseSourceOnly ? 0 : 1 << to)
}

/** The step's transaction is over: a FREEZE goes on with its MOVE at once (a new transaction at the frozen epoch), anything else ends the run. */
function stepDone(mm: Mover, tx: MoverTx): void {
  if (mm.step === 'freeze') Object.assign(mm, { pc: 'read', step: 'move', epoch: tx.log!.epoch, at: 0, tx: newTx() })
  else Object.assign(mm, idle)
}

/** The log shard's branch commits: the decision, the job row and the new topology row at once; read-only branches end. */
function decide(n: ReshardState, i: number): void {
  const mm = n.movers[i]!
  const tx = mm.tx!
  const log = tx.log!
  const label = `${name(i)}.decide`
  if (mm.step === 'move' && mm.plan === 'forward' && n.reversed && n.violation === undefined) {
    n.violation = `${label}: batch ${mm.batch + 1} moves forward again after the reverse moved batches back (done ${mm.readDone} → ${log.done})`
  }
  if (mm.step === 'move' && mm.plan === 'reverse') n.reversed = true
  publish(n, log.epoch, log.done, log.moving)
  n.jobDone = log.done
  applyBranch(n, tx.branches.find((b) => b.shard === LOG_SHARD)!, label)
  tx.decided = true
  // The log branch committed; branches that wrote nothing end without PREPARE (and release their locks).
  tx.branches = tx.branches.filter((b) => b.prepared)
  if (tx.branches.length === 0) stepDone(mm, tx)
  else mm.pc = 'commit'
}

/**
 * UNFREEZE: one local transaction on the log shard, inserting topology row E+1 = the
 * frozen row E it read, without `moving`. The primary key makes it compete with a MOVE
 * (or anything else) for E+1; with `unfreezeAnyEpoch` it takes whatever epoch is next.
 */
function unfreeze(scope: ReshardScope, s: ReshardState, i: number, add: Add): void {
  const m = s.movers[i]!
  const M = name(i)
  const anyEpoch = scope.bugs?.unfreezeAnyEpoch
  const epoch = anyEpoch ? s.published + 1 : m.epoch + 1
  if (epoch > scope.maxEpoch) return
  const reset = (n: ReshardState): void => {
    Object.assign(n.movers[i]!, idle)
  }
  if (s.epochDone[epoch] !== undefined) {
    add(`${M}.unfreeze: topology row ${epoch} exists (primary key) → start over`, reset)
    return
  }
  // Another mover's uncommitted topology row E+1: the insert waits for it, bounded.
  if (pendingLog(s, i)?.epoch === epoch) {
    add(`${M}.unfreeze: topology row ${epoch} locked, timed out → start over`, reset)
    return
  }
  add(`${M}.unfreeze: topology row ${epoch} = done ${m.readDone}, nothing moving${anyEpoch ? ' (the next free epoch, seeded bug)' : ''}`, (n) => {
    publish(n, epoch, m.readDone, -1)
    reset(n)
  })
}

/** Recovery settles a crashed mover's prepared branches by its decision: commit if the log shard's branch committed, else presumed abort. */
export function recoverySteps(s: ReshardState, add: Add): void {
  s.orphans.forEach((tx, o) => {
    for (const b of tx.branches) {
      const verb = tx.decided ? 'COMMIT PREPARED' : 'ROLLBACK PREPARED'
      add(`recover(crashed mover tx ${o + 1}): ${verb} on ${SHARD_NAMES[b.shard]}`, (n) => {
        const t = n.orphans[o]!
        if (t.decided) applyBranch(n, t.branches.find((x) => x.shard === b.shard)!, `recover: ${verb} on ${SHARD_NAMES[b.shard]}`)
        t.branches = t.branches.filter((x) => x.shard !== b.shard)
        if (t.branches.length === 0) n.orphans.splice(o, 1)
      })
    }
  })
}

/**
 * The operator stops the job, once: `cancel()` changes the job's state and, if the
 * topology is frozen, publishes the UNFREEZE in the same transaction on the log shard;
 * `reverseReshard()` (offered where it differs: a batch frozen) changes the state only.
 * Both wait for a mover's uncommitted log branch (the job row's lock).
 */
export function operatorSteps(scope: ReshardScope, s: ReshardState, add: Add): void {
  if (!scope.reverse || s.jobDone < 0 || s.cancelled || pendingLog(s, -1)) return
  const e = s.published
  const frozen = s.epochMoving[e]! >= 0
  if (frozen && e + 1 > scope.maxEpoch) return
  add(`O.cancel (done ${s.jobDone})${frozen ? `: unfreeze, topology row ${e + 1}` : ''}`, (n) => {
    n.cancelled = true
    if (frozen) publish(n, e + 1, s.epochDone[e]!, -1)
  })
  if (frozen) {
    add(`O.reverse (done ${s.jobDone}): the state only, batch ${s.epochMoving[e]! + 1} left frozen`, (n) => {
      n.cancelled = true
    })
  }
}
