import { KEY_NAMES, LOG_SHARD, SHARD_NAMES, type Batch, type ReshardScope } from './reshard-scope.js'
import {
  applyBranch,
  moverHoldsFence,
  preparedBranchOn,
  writerLocksRow,
  writerSharesFence,
  type Mover,
  type MoverBranch,
  type MoverTx,
  type ReshardState,
} from './reshard-state.js'
import type { Add } from './writer-steps.js'

const name = (i: number): string => `M${i + 1}`
const shardNames = (mask: number): string => SHARD_NAMES.filter((_, s) => (mask & (1 << s)) !== 0).join(',')

/** Source and destination of the mover's batch: a reverse batch runs the batch backwards. */
function ends(scope: ReshardScope, m: Mover): { from: number; to: number; batch: Batch } {
  const batch = scope.batches[m.batch]!
  return m.plan === 'reverse' ? { from: batch.to, to: batch.from, batch } : { from: batch.from, to: batch.to, batch }
}

/** The fences the transaction takes, in id order: every shard to start the job, source and destination for a batch. */
function fenceList(scope: ReshardScope, m: Mover): number[] {
  if (m.plan === 'start') return [0, 1, 2]
  const { from, to } = ends(scope, m)
  return [from, to].sort((a, b) => a - b)
}

function branchOn(tx: MoverTx, shard: number, fenced: boolean): MoverBranch {
  let b = tx.branches.find((x) => x.shard === shard)
  if (!b) {
    b = { shard, prepared: false, fenced, raise: 0, insert: [-1, -1], remove: 0 }
    tx.branches.push(b)
    tx.branches.sort((x, y) => x.shard - y.shard)
  }
  return b
}

const writes = (b: MoverBranch): boolean => b.raise > 0 || b.remove !== 0 || b.insert.some((v) => v >= 0)

/**
 * A mover runs the job one transaction at a time: read the job row, read the
 * published epoch, take the fences exclusively, copy and delete the batch's rows,
 * write the log shard's rows (compare-and-set on `done`, topology row E+1, every
 * fence raise), prepare, decide (commit the log shard's branch: the decision record
 * and the new topology are one commit), commit the prepared branches. Any wait that
 * cannot be granted now may time out: everything is rolled back, the mover starts
 * over. It may be killed between any two steps.
 */
export function moverSteps(scope: ReshardScope, s: ReshardState, i: number, add: Add): void {
  const m = s.movers[i]!
  const M = name(i)
  const me = (n: ReshardState): Mover => n.movers[i]!
  const bugs = scope.bugs ?? {}
  const abort = (label: string): void =>
    add(`${M}.${label} → roll back, release the fences, start over`, (n) => {
      Object.assign(me(n), { pc: 'idle', holds: 0, tx: null })
    })

  if (m.tx !== null && s.failuresLeft > 0) {
    const prepared = m.tx.branches.filter((b) => b.prepared).length
    add(`${M}.crash: its sessions end, open branches roll back${prepared > 0 ? `, ${prepared} prepared left to recovery` : ''}`, (n) => {
      n.failuresLeft--
      const tx = me(n).tx!
      tx.branches = tx.branches.filter((b) => b.prepared)
      if (tx.branches.length > 0) n.orphans.push(tx)
      Object.assign(me(n), { pc: 'idle', holds: 0, tx: null })
    })
  }

  switch (m.pc) {
    case 'idle': {
      const n = scope.batches.length
      let plan: Pick<Mover, 'plan' | 'batch'> | undefined
      if (s.jobDone < 0) plan = { plan: 'start', batch: 0 }
      else if (!s.cancelled && s.jobDone < n) plan = { plan: 'forward', batch: s.jobDone }
      else if (s.cancelled && s.jobDone > 0) plan = { plan: 'reverse', batch: s.jobDone - 1 }
      if (!plan) return
      const what =
        plan.plan === 'start'
          ? 'no job: start it'
          : `done ${s.jobDone}${s.cancelled ? ', cancelled' : ''}: batch ${plan.batch + 1} ${plan.plan}`
      add(`${M}.readJob → ${what}`, (n) => {
        Object.assign(me(n), { ...plan, pc: 'read-epoch', readDone: s.jobDone, at: 0, holds: 0, tx: null })
      })
      return
    }
    case 'read-epoch':
      if (s.published + 1 > scope.maxEpoch) return
      add(`${M}.readTopology → epoch ${s.published}`, (n) => {
        Object.assign(me(n), { pc: 'hold', epoch: s.published, at: 0, tx: { branches: [], log: null, decided: false } })
      })
      return
    case 'hold': {
      const fences = fenceList(scope, m)
      const shard = fences[m.at]!
      // Only a batch drains our prepared branches on a MariaDB fence (the job start moves no slot, so a branch prepared before it commits on a shard that still owns its key).
      const drain = scope.kinds[shard] === 'mysql' && m.plan !== 'start' && !bugs.skipPreparedDrain
      const free = !writerSharesFence(scope, s, shard) && !moverHoldsFence(s, shard, i) && !(drain && preparedBranchOn(s, shard))
      if (!free) {
        abort(`hold(${SHARD_NAMES[shard]}): timed out`)
        return
      }
      const drained = scope.kinds[shard] === 'mysql' && m.plan !== 'start' ? (bugs.skipPreparedDrain ? ', drain skipped (seeded bug)' : ', no prepared branch left') : ''
      add(`${M}.hold(${SHARD_NAMES[shard]})${drained}`, (n) => {
        const mm = me(n)
        mm.holds |= 1 << shard
        branchOn(mm.tx!, shard, true)
        mm.at++
        if (mm.at === fences.length) Object.assign(mm, { pc: mm.plan === 'start' ? 'write-log' : 'copy', at: 0 })
      })
      return
    }
    case 'copy': {
      const { from, to, batch } = ends(scope, m)
      const key = batch.keys[m.at]!
      // The upsert at the destination waits for a row lock there; a locking read at the source waits for a writer's.
      if (writerLocksRow(scope, s, to, key) || (scope.copyRead === 'locking' && writerLocksRow(scope, s, from, key))) {
        abort(`copy(${KEY_NAMES[key]}): lock wait timed out`)
        return
      }
      const value = s.rows[from]![key]!
      add(`${M}.copy(${KEY_NAMES[key]}, ${SHARD_NAMES[from]} → ${SHARD_NAMES[to]}): ${value < 0 ? 'no row' : 'upsert'}`, (n) => {
        const mm = me(n)
        if (value >= 0) branchOn(mm.tx!, to, true).insert[key] = value
        mm.pc = 'delete'
      })
      return
    }
    case 'delete': {
      const { from, batch } = ends(scope, m)
      const key = batch.keys[m.at]!
      if (writerLocksRow(scope, s, from, key)) {
        abort(`delete(${KEY_NAMES[key]}, ${SHARD_NAMES[from]}): lock wait timed out`)
        return
      }
      add(`${M}.delete(${KEY_NAMES[key]}, ${SHARD_NAMES[from]})`, (n) => {
        const mm = me(n)
        branchOn(mm.tx!, from, true).remove |= 1 << key
        mm.at++
        mm.pc = mm.at === batch.keys.length ? 'write-log' : 'copy'
      })
      return
    }
    case 'write-log': {
      // The job row (and the topology row's key) are locked by another mover's uncommitted log branch: wait, bounded.
      if (s.movers.some((o, j) => j !== i && o.tx?.log)) {
        abort('writeLog: job row locked, timed out')
        return
      }
      const epoch = m.epoch + 1
      if (s.epochDone[epoch] !== undefined) {
        abort(`writeLog: topology row ${epoch} exists (primary key)`)
        return
      }
      if (m.plan === 'start' && s.jobDone >= 0) {
        abort('writeLog: the job row exists (primary key)')
        return
      }
      if (m.plan !== 'start' && s.jobDone !== m.readDone && !bugs.skipDoneCas) {
        abort(`writeLog: compare-and-set done ${m.readDone} → ${s.jobDone} found`)
        return
      }
      if (m.plan !== 'start' && scope.jobCas === 'done-and-state' && s.cancelled !== (m.plan === 'reverse')) {
        abort(`writeLog: compare-and-set on the job's state: ${s.cancelled ? 'cancelled' : 'running'} found`)
        return
      }
      const done = m.plan === 'start' ? 0 : m.plan === 'forward' ? m.readDone + 1 : m.readDone - 1
      const state = scope.jobCas === 'done-and-state' ? (m.plan === 'forward' ? ' where running' : ' where cancelled') : ''
      const cas = m.plan === 'start' ? 'insert the job row' : bugs.skipDoneCas ? `set done = ${done} (no compare, seeded bug)` : `compare-and-set done ${m.readDone} → ${done}${state}`
      const raised = raisedShards(scope, m)
      add(`${M}.writeLog: ${cas}; topology row ${epoch}; raise ${shardNames(raised)} to ${epoch}`, (n) => {
        const mm = me(n)
        const tx = mm.tx!
        branchOn(tx, LOG_SHARD, false)
        tx.log = { epoch, done }
        for (const b of tx.branches) if ((raised & (1 << b.shard)) !== 0) b.raise = epoch
        mm.pc = 'prepare'
      })
      return
    }
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
          mm.holds &= ~(1 << b.shard)
          if (tx.branches.length === 0) Object.assign(mm, { pc: 'idle', holds: 0, tx: null })
        })
      }
      return
    default:
      return
  }
}

function raisedShards(scope: ReshardScope, m: Mover): number {
  if (m.plan === 'start') return 0b111
  const { from, to } = ends(scope, m)
  const bugs = scope.bugs ?? {}
  return (bugs.raiseDestinationOnly ? 0 : 1 << from) | (bugs.raiseSourceOnly ? 0 : 1 << to)
}

/** The log shard's branch commits: the decision, the job row and the new topology row at once; read-only branches end. */
function decide(n: ReshardState, i: number): void {
  const mm = n.movers[i]!
  const tx = mm.tx!
  const log = tx.log!
  const label = `${name(i)}.decide`
  if (mm.plan === 'forward' && n.reversed && n.violation === undefined) {
    n.violation = `${label}: batch ${mm.batch + 1} moves forward again after the reverse moved batches back (done ${mm.readDone} → ${log.done})`
  }
  if (mm.plan === 'reverse') n.reversed = true
  n.published = log.epoch
  n.epochDone[log.epoch] = log.done
  n.jobDone = log.done
  const logBranch = tx.branches.find((b) => b.shard === LOG_SHARD)!
  applyBranch(n, logBranch, label)
  tx.decided = true
  // The log branch committed; branches that wrote nothing end without PREPARE (and release their locks).
  const ended = tx.branches.filter((b) => !b.prepared)
  for (const b of ended) mm.holds &= ~(1 << b.shard)
  tx.branches = tx.branches.filter((b) => b.prepared)
  if (tx.branches.length === 0) Object.assign(mm, { pc: 'idle', holds: 0, tx: null })
  else mm.pc = 'commit'
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

/** The operator cancels the job (an update of the job row on the log shard; it waits for a mover's uncommitted one). */
export function operatorSteps(scope: ReshardScope, s: ReshardState, add: Add): void {
  if (!scope.reverse || s.jobDone < 0 || s.cancelled || s.movers.some((m) => m.tx?.log)) return
  add(`O.cancel (done ${s.jobDone})`, (n) => {
    n.cancelled = true
  })
}
