import { at, Model } from './model.js'
import { Branch, LogRecord, RecovererStage as R } from './state-codes.js'
import { StepKind, type Successors } from './successors.js'

const DECIDED_COMMIT = 1
const DECIDED_ABORT = 2
/** The decision read vanished: fencing a second time (only an expiring abort record could make it vanish again). */
const REFENCING = 3

/**
 * Recoverer `r`, one round at a time, as docs/protocol.md "Recovery" and
 * src/recovery/recovery.ts name the steps. It runs concurrently with everything and may
 * crash at any step (it forgets its round and may start again).
 *
 * A round: readCommitRecords (the records it may forget at the end: read
 * *before* the listing, see `mayForget`), listPrepared on every shard, then per
 * transaction seen prepared: if a commit record was read, resolveBranch with
 * commit on each shard it was seen on; otherwise judgeAge, fence, readDecision,
 * then resolveBranch. Finally forgetCommitted.
 */
export function recovererSteps(m: Model, s: Uint8Array, r: number, out: Successors): void {
  const base = m.recAt(r)
  const stage = at(s, base + Model.STAGE)
  const t = at(s, base + Model.TX)
  const L = m.L
  const mayFail = at(s, 0) > 0
  const tname = `T${t + 1}`

  if (stage !== R.Idle && mayFail) {
    const n = s.slice()
    n.fill(0, base, base + m.recSize)
    emit(m, out, r, 'crash', n, StepKind.Fault)
  }

  switch (stage) {
    case R.Idle: {
      if (m.bugs.commitRecordsReadAfterListing) {
        for (let k = 0; k < m.K; k++) {
          const n = s.slice()
          n[base + Model.STAGE] = R.ListPrepared
          emit(m, out, r, listPrepared(m, n, base, k), n, StepKind.StartRound)
          if (!m.scope.listInAnyOrder) break
        }
      } else if (m.up(s, L)) {
        const n = s.slice()
        const records = commitRecords(m, s)
        n[base + Model.RECORDS] = records
        n[base + Model.STAGE] = R.ListPrepared
        emit(m, out, r, `readCommitRecords → ${txSet(records)}`, n, StepKind.StartRound)
      }
      if (m.bugs.expireAbortsEarly && m.up(s, L)) {
        for (let x = 0; x < m.T; x++) {
          if (at(s, m.logAt(x)) !== LogRecord.Abort) continue
          const n = s.slice()
          n[m.logAt(x)] = LogRecord.None
          emit(m, out, r, `expireAborts(T${x + 1}) (seeded bug: retention too short)`, n, StepKind.Delay)
        }
      }
      return
    }

    case R.ListPrepared: {
      const listed = at(s, base + Model.LISTED)
      for (let k = 0; k < m.K; k++) {
        if ((listed >> k) & 1) continue
        const n = s.slice()
        emit(m, out, r, listPrepared(m, n, base, k), n)
        // Listed in parallel by the implementation; shard order only under the `listInAnyOrder` scope.
        if (!m.scope.listInAnyOrder) break
      }
      return
    }

    case R.JudgeAndFence: {
      const young = s.slice()
      leaveTx(m, young, base)
      emit(m, out, r, `judgeAge(${tname}): too young, skip`, young, StepKind.Delay)
      const judged = `judgeAge(${tname}): old; fence(${tname})`
      // INSERT … ON CONFLICT DO NOTHING waits on the PK row lock of an uncommitted commit record.
      if (m.up(s, L) && at(s, m.branchAt(t, L)) === Branch.OpenWithRecord) return
      const n = s.slice()
      if (!m.up(s, L)) {
        leaveTx(m, n, base)
        emit(m, out, r, `${judged}: ${m.shard(L)} down, skip`, n)
        return
      }
      const inserts = !m.bugs.recovererAbortsWithoutFence && at(s, m.logAt(t)) === LogRecord.None
      if (inserts) insertAbortRecord(m, n, t)
      n[base + Model.STAGE] = R.ReadDecision
      const outcome = m.bugs.recovererAbortsWithoutFence
        ? 'skipped (seeded bug)'
        : inserts
          ? 'abort record inserted'
          : 'conflict, record exists'
      emit(m, out, r, `${judged}: ${outcome}`, n)
      if (inserts && m.scope.lostReplies && mayFail) {
        const lost = s.slice()
        insertAbortRecord(m, lost, t)
        leaveTx(m, lost, base)
        emit(m, out, r, `${judged}: abort record inserted, reply lost, skip`, lost, StepKind.Fault)
      }
      return
    }

    case R.ReadDecision: {
      const n = s.slice()
      if (!m.up(s, L)) {
        leaveTx(m, n, base)
        emit(m, out, r, `readDecision(${tname}): ${m.shard(L)} down, skip`, n)
        return
      }
      const record = at(s, m.logAt(t))
      if (record === LogRecord.None && !m.bugs.recovererAbortsWithoutFence) {
        // Forgotten (or expired) between the two statements: fenceAbort fences again.
        n[base + Model.STAGE] = R.JudgeAndFence
        n[base + Model.DECISION] = REFENCING
        emit(m, out, r, `readDecision(${tname}) = none (record vanished), fence again`, n)
        return
      }
      // No record under the seeded bug (never fenced): presumed abort.
      n[base + Model.DECISION] = record === LogRecord.Commit ? DECIDED_COMMIT : DECIDED_ABORT
      n[base + Model.STAGE] = R.ResolveBranch
      n[base + Model.SHARD] = 0
      const read = record === LogRecord.Commit ? 'commit' : record === LogRecord.Abort ? 'abort' : 'none → abort'
      emit(m, out, r, `readDecision(${tname}) = ${read}`, n)
      return
    }

    case R.ResolveBranch: {
      const k = at(s, base + Model.SHARD)
      const step = `resolveBranch(${m.shard(k)}, ${tname})`
      const commit = at(s, base + Model.DECISION) === DECIDED_COMMIT
      const b = at(s, m.branchAt(t, k))
      const n = s.slice()
      n[base + Model.SHARD] = k + 1
      const resolved = at(s, base + Model.RESOLVED) | (1 << k)
      if (!m.up(s, k)) {
        emit(m, out, r, `${step}: shard down`, n)
      } else if (b === Branch.PreparedOwned) {
        // 1397 XAER_NOTA: the coordinator's connection still owns the branch; try next round.
        emit(m, out, r, `${step}: XAER_NOTA (owner connected), skip`, n)
      } else if (b === Branch.Prepared) {
        const verb = commit ? 'COMMIT PREPARED' : 'ROLLBACK PREPARED'
        n[m.branchAt(t, k)] = commit ? Branch.Committed : Branch.RolledBack
        const lost = n.slice()
        n[base + Model.RESOLVED] = resolved
        emit(m, out, r, `${step}: ${verb}`, n)
        if (m.scope.lostReplies && mayFail) emit(m, out, r, `${step}: ${verb}, reply lost`, lost, StepKind.Fault)
      } else {
        // 42704 / 1397 after the owner left: someone else finished it, which is fine.
        n[base + Model.RESOLVED] = resolved
        emit(m, out, r, `${step}: no such branch`, n)
      }
      return
    }

    case R.ReadCommitRecords: {
      const n = s.slice()
      if (m.up(s, L)) {
        const records = commitRecords(m, s)
        n[base + Model.RECORDS] = records
        n[base + Model.STAGE] = R.ForgetCommitted
        n[base + Model.TX] = 0
        emit(m, out, r, `readCommitRecords → ${txSet(records)}`, n)
      } else {
        n.fill(0, base, base + m.recSize)
        emit(m, out, r, `readCommitRecords: ${m.shard(L)} down, end round`, n)
      }
      return
    }

    case R.ForgetCommitted: {
      const n = s.slice()
      const up = m.up(s, L)
      if (up && at(s, m.logAt(t)) === LogRecord.Commit) n[m.logAt(t)] = LogRecord.None
      n[base + Model.TX] = t + 1
      emit(m, out, r, `forgetCommitted(${tname})${up ? '' : `: ${m.shard(L)} down`}`, n)
      return
    }
  }
}

function emit(m: Model, out: Successors, r: number, step: string, n: Uint8Array, kind: StepKind = StepKind.Progress): void {
  if (kind === StepKind.Fault) n[0] = at(n, 0) - 1
  settleRecoverer(m, n, r)
  out.add(`R${r + 1}.${step}`, n, kind)
}

function listPrepared(m: Model, n: Uint8Array, base: number, k: number): string {
  n[base + Model.LISTED] = at(n, base + Model.LISTED) | (1 << k)
  if (!m.up(n, k)) {
    // A participant not reached in this round: none of its transactions' records may go.
    if (!m.bugs.forgetWithoutReachingAll) {
      let blocked = at(n, base + Model.BLOCKED)
      for (let t = 0; t < m.T; t++) if (m.tx[t]!.participants.includes(k)) blocked |= 1 << t
      n[base + Model.BLOCKED] = blocked & recordsOfInterest(m, n, base)
    }
    return `listPrepared(${m.shard(k)}): shard down`
  }
  let seen = 0
  for (let t = 0; t < m.T; t++) {
    const b = at(n, m.branchAt(t, k))
    if (b === Branch.Prepared || b === Branch.PreparedOwned) seen |= 1 << t
  }
  n[base + m.seenOff(k)] = seen
  return `listPrepared(${m.shard(k)}) → ${txSet(seen)}`
}

/**
 * Done with the current transaction in this round. If any branch seen
 * prepared was not committed by this round, its record must not be forgotten:
 * rule 4 of Recovery. The transaction's round-local facts are then dropped.
 */
function leaveTx(m: Model, n: Uint8Array, base: number): void {
  const t = at(n, base + Model.TX)
  const committed = at(n, base + Model.DECISION) === DECIDED_COMMIT
  const resolved = at(n, base + Model.RESOLVED)
  for (let k = 0; k < m.K; k++) {
    const seenAt = base + m.seenOff(k)
    if (!((at(n, seenAt) >> t) & 1)) continue
    if (!committed || !((resolved >> k) & 1)) n[base + Model.BLOCKED] = at(n, base + Model.BLOCKED) | (1 << t)
    n[seenAt] = at(n, seenAt) & ~(1 << t)
  }
  n[base + Model.BLOCKED] = at(n, base + Model.BLOCKED) & recordsOfInterest(m, n, base)
  n[base + Model.DECISION] = 0
  n[base + Model.RESOLVED] = 0
  n[base + Model.STAGE] = R.JudgeAndFence
  n[base + Model.TX] = t + 1
  n[base + Model.SHARD] = 0
}

/** Records this round could forget: those it read, or (reading them only later) all. */
function recordsOfInterest(m: Model, n: Uint8Array, base: number): number {
  return m.bugs.commitRecordsReadAfterListing ? 0xff : at(n, base + Model.RECORDS)
}

/**
 * Rule 4 of Recovery: every participant named in the record was reached in
 * this round and holds no prepared branch of the tx, or this round committed
 * it. Sound only for a record read before the listing: a commit record exists
 * only once every branch is prepared, so a later listing cannot miss a branch.
 */
function mayForget(n: Uint8Array, base: number, t: number): boolean {
  return ((at(n, base + Model.RECORDS) >> t) & 1) === 1 && ((at(n, base + Model.BLOCKED) >> t) & 1) === 0
}

function insertAbortRecord(m: Model, n: Uint8Array, t: number): void {
  n[m.logAt(t)] = LogRecord.Abort
  if (n[m.decisionAt(t)] === LogRecord.None) n[m.decisionAt(t)] = LogRecord.Abort
}

function commitRecords(m: Model, s: Uint8Array): number {
  let mask = 0
  for (let t = 0; t < m.T; t++) if (at(s, m.logAt(t)) === LogRecord.Commit) mask |= 1 << t
  return mask
}

const txSets = Array.from({ length: 256 }, (_, mask) => {
  const ids: string[] = []
  for (let t = 0; t < 8; t++) if ((mask >> t) & 1) ids.push(`T${t + 1}`)
  return `[${ids.join(' ')}]`
})

function txSet(mask: number): string {
  return txSets[mask]!
}

/** Skips the parts of a round with nothing to do, and ends the round when it is done. */
export function settleRecoverer(m: Model, n: Uint8Array, r: number): void {
  const base = m.recAt(r)
  for (;;) {
    const stage = at(n, base + Model.STAGE)
    const t = at(n, base + Model.TX)
    switch (stage) {
      case R.ListPrepared:
        if (at(n, base + Model.LISTED) !== (1 << m.K) - 1) return
        n[base + Model.STAGE] = R.JudgeAndFence
        n[base + Model.TX] = 0
        continue
      case R.JudgeAndFence: {
        if (t >= m.T) {
          n[base + Model.STAGE] = m.bugs.commitRecordsReadAfterListing ? R.ReadCommitRecords : R.ForgetCommitted
          n[base + Model.TX] = 0
          continue
        }
        let seen = false
        for (let k = 0; k < m.K; k++) if ((at(n, base + m.seenOff(k)) >> t) & 1) seen = true
        if (!seen) {
          n[base + Model.TX] = t + 1
          continue
        }
        // A commit record read at the start of the round is final: no age, no fence (src/recovery/recovery.ts).
        if ((at(n, base + Model.RECORDS) >> t) & 1 && !m.bugs.commitRecordsReadAfterListing) {
          n[base + Model.DECISION] = DECIDED_COMMIT
          n[base + Model.STAGE] = R.ResolveBranch
          n[base + Model.SHARD] = 0
          continue
        }
        return
      }
      case R.ResolveBranch: {
        const k = at(n, base + Model.SHARD)
        if (k >= m.K) {
          leaveTx(m, n, base)
          continue
        }
        if ((at(n, base + m.seenOff(k)) >> t) & 1) return
        n[base + Model.SHARD] = k + 1
        continue
      }
      case R.ForgetCommitted:
        if (t >= m.T) {
          n.fill(0, base, base + m.recSize)
          return
        }
        if (mayForget(n, base, t)) return
        n[base + Model.TX] = t + 1
        continue
      default:
        return
    }
  }
}

/** How far the recoverer got in its round; the end of a round (idle) counts highest. */
export function recovererProgress(m: Model, s: Uint8Array, r: number): number {
  const base = m.recAt(r)
  const stage = at(s, base + Model.STAGE)
  const t = at(s, base + Model.TX)
  switch (stage) {
    case R.Idle:
      return 10_000
    case R.ListPrepared: {
      let c = 0
      for (let x = at(s, base + Model.LISTED); x; x &= x - 1) c++
      return c
    }
    case R.JudgeAndFence:
    case R.ReadDecision: {
      const again = at(s, base + Model.DECISION) === REFENCING ? 2 : 0
      return 16 + t * 32 + again + (stage === R.ReadDecision ? 1 : 0)
    }
    case R.ResolveBranch:
      return 16 + t * 32 + 4 + at(s, base + Model.SHARD)
    case R.ReadCommitRecords:
      return 16 + m.T * 32
    default:
      return 16 + m.T * 32 + 1 + t
  }
}
