import { at, type Model } from './model.js'
import { Branch, CoordinatorPhase as P, LogRecord, Verdict } from './state-codes.js'
import { StepKind, type Successors } from './successors.js'

/**
 * The coordinator of transaction `t`, step by step as docs/protocol.md "Commit"
 * and src/protocol/coordinator.ts name them. Each call adds every step the
 * coordinator can take from `s`, including crashing and losing a reply.
 */
export function coordinatorSteps(m: Model, s: Uint8Array, t: number, out: Successors): void {
  const phase = at(s, m.phaseAt(t))
  if (phase === P.Done || phase === P.Crashed) return
  const info = m.tx[t]!
  const pos = at(s, m.posAt(t))
  const mask = at(s, m.maskAt(t))
  const mayFail = at(s, 0) > 0
  const mayLoseReply = mayFail && m.scope.lostReplies
  const L = m.L
  const Lname = m.shard(L)

  if (mayFail) {
    const n = s.slice()
    crashCoordinator(m, n, t)
    emit(m, out, t, 'crash', n, StepKind.Fault)
  }

  switch (phase) {
    case P.Work: {
      // The caller's work, collapsed into one step: nothing outside this tx can see an
      // unprepared branch, only kill it, and a kill anywhere in here ends in the same abort.
      const n = s.slice()
      const done: string[] = []
      for (let i = 0; i < info.touches.length; i++) {
        const k = info.touches[i]!
        if (!m.up(s, k)) {
          for (let j = 0; j < i; j++) n[m.branchAt(t, info.touches[j]!)] = Branch.RolledBack
          n[m.verdictAt(t)] = Verdict.Aborted
          n[m.phaseAt(t)] = P.Done
          emit(m, out, t, `${[...done, `openBranch(${m.shard(k)})`].join(' ')}: shard down → abort`, n)
          return
        }
        n[m.branchAt(t, k)] = Branch.Open
        done.push(`openBranch(${m.shard(k)})`)
        if (info.writes[i]) done.push(`write(${m.shard(k)})`)
      }
      n[m.phaseAt(t)] = info.twoPhase ? P.Prepare : P.OnePhase
      emit(m, out, t, done.join(' '), n)
      return
    }

    case P.OnePhase: {
      const k = info.written[0]!
      const step = `commitOnePhase(${m.shard(k)})`
      if (m.up(s, k) && at(s, m.branchAt(t, k)) === Branch.Open) {
        const n = s.slice()
        n[m.branchAt(t, k)] = Branch.Committed
        n[m.verdictAt(t)] = Verdict.Committed
        n[m.phaseAt(t)] = P.Done
        emit(m, out, t, step + finishReadOnly(m, n, t), n)
        if (mayLoseReply) {
          // Committed, but the caller cannot know: it must hear "in doubt", never "aborted".
          const lost = s.slice()
          lost[m.branchAt(t, k)] = Branch.Committed
          if (m.bugs.sentTakenForUnsent) {
            startAbort(m, lost, t)
            emit(m, out, t, `${step}: committed, reply lost, taken for not sent (seeded bug) → abort`, lost, StepKind.Fault)
          } else {
            finishInDoubt(m, lost, t)
            emit(m, out, t, `${step}: committed, reply lost → in doubt`, lost, StepKind.Fault)
          }
        }
        if (mayFail) emit(m, out, t, `${step}: ${notSent}`, brokenBeforeSending(m, s.slice(), t, k), StepKind.Fault)
      } else {
        const n = s.slice()
        startAbort(m, n, t)
        emit(m, out, t, `${step}: branch lost → abort`, n)
      }
      return
    }

    case P.Prepare: {
      for (let j = 0; j < info.toPrepare.length; j++) {
        if ((mask >> j) & 1) continue
        const k = info.toPrepare[j]!
        const step = `prepareBranch(${m.shard(k)})`
        if (m.up(s, k) && at(s, m.branchAt(t, k)) === Branch.Open) {
          const n = s.slice()
          n[m.branchAt(t, k)] = m.mysql[k] ? Branch.PreparedOwned : Branch.Prepared
          n[m.maskAt(t)] = mask | (1 << j)
          emit(m, out, t, step, n)
          if (mayLoseReply) {
            // The connection broke after PREPARE took effect: the owner is gone too.
            const lost = s.slice()
            lost[m.branchAt(t, k)] = m.mysql[k] ? Branch.PreparedOwned : Branch.Prepared
            m.releaseOwner(lost, t, k)
            startAbort(m, lost, t)
            emit(m, out, t, `${step}: prepared, reply lost → abort`, lost, StepKind.Fault)
          }
        } else {
          const n = s.slice()
          startAbort(m, n, t)
          emit(m, out, t, `${step}: failed → abort`, n)
        }
      }
      return
    }

    case P.Decide: {
      // checkDeadline is local (a nondeterministic "expired"), so it shares a step with what it allows.
      const expired = s.slice()
      startAbort(m, expired, t)
      emit(m, out, t, 'checkDeadline: expired → abort', expired)
      const deadline = 'checkDeadline: in time; '
      if (!info.logInBranch) {
        if (!m.up(s, L)) {
          const n = s.slice()
          decideFailed(m, n, t)
          emit(m, out, t, `${deadline}decide: ${Lname} down → ${outcomeOfDecideError(m)}`, n)
          return
        }
        if (at(s, m.logAt(t)) === LogRecord.Abort) {
          const n = s.slice()
          if (m.bugs.coordinatorIgnoresInsertResult) {
            const finished = decided(m, n, t)
            emit(m, out, t, `${deadline}decide: PK conflict ignored (seeded bug) → committed${finished}`, n)
          } else {
            startAbort(m, n, t)
            emit(m, out, t, `${deadline}decide: PK conflict with abort record → abort`, n)
          }
          return
        }
        const n = s.slice()
        insertCommitRecord(m, n, t)
        const finished = decided(m, n, t)
        emit(m, out, t, `${deadline}decide: commit record inserted → committed${finished}`, n)
        if (mayLoseReply) {
          const lost = s.slice()
          insertCommitRecord(m, lost, t)
          decideFailed(m, lost, t)
          emit(m, out, t, `${deadline}decide: inserted, reply lost → ${outcomeOfDecideError(m)}`, lost, StepKind.Fault)
        }
        return
      }
      const n = s.slice()
      if (!m.up(s, L) || at(s, m.branchAt(t, L)) !== Branch.Open) {
        decideFailed(m, n, t)
        emit(m, out, t, `${deadline}insertDecisionInBranch: ${Lname} branch lost → ${outcomeOfDecideError(m)}`, n)
        return
      }
      // INSERT + COMMIT go in one round trip: the connection breaks before it, or not at all.
      if (mayFail) emit(m, out, t, `${deadline}insertDecisionInBranch: ${notSent}`, brokenBeforeSending(m, s.slice(), t, L), StepKind.Fault)
      if (at(s, m.logAt(t)) === LogRecord.Abort) {
        if (m.bugs.coordinatorIgnoresInsertResult) {
          n[m.phaseAt(t)] = P.CommitLogBranch
          emit(m, out, t, `${deadline}insertDecisionInBranch: PK conflict ignored (seeded bug)`, n)
        } else {
          startAbort(m, n, t)
          emit(m, out, t, `${deadline}insertDecisionInBranch: PK conflict with abort record → abort`, n)
        }
      } else {
        n[m.branchAt(t, L)] = Branch.OpenWithRecord
        n[m.phaseAt(t)] = P.CommitLogBranch
        emit(m, out, t, `${deadline}insertDecisionInBranch`, n)
      }
      return
    }

    case P.CommitLogBranch: {
      const b = at(s, m.branchAt(t, L))
      // Open (no record) only under the seeded bug that ignored the PK conflict.
      if (m.up(s, L) && (b === Branch.OpenWithRecord || b === Branch.Open)) {
        const commit = (n: Uint8Array) => {
          n[m.branchAt(t, L)] = Branch.Committed
          if (b === Branch.OpenWithRecord) insertCommitRecord(m, n, t)
        }
        const n = s.slice()
        commit(n)
        const finished = decided(m, n, t)
        emit(m, out, t, `commitLogBranch → committed${finished}`, n)
        if (mayLoseReply) {
          const lost = s.slice()
          commit(lost)
          if (m.bugs.sentTakenForUnsent) {
            startAbort(m, lost, t)
            emit(m, out, t, `commitLogBranch: committed, reply lost, taken for not sent (seeded bug) → abort`, lost, StepKind.Fault)
          } else {
            decideFailed(m, lost, t)
            emit(m, out, t, `commitLogBranch: committed, reply lost → ${outcomeOfDecideError(m)}`, lost, StepKind.Fault)
          }
        }
      } else {
        const n = s.slice()
        decideFailed(m, n, t)
        emit(m, out, t, `commitLogBranch: ${Lname} branch lost → ${outcomeOfDecideError(m)}`, n)
      }
      return
    }

    case P.FenceAfterDecideError: {
      // The same fence as recovery's: waits on an uncommitted record, then reads the decision.
      if (m.up(s, L) && at(s, m.branchAt(t, L)) === Branch.OpenWithRecord) return
      const n = s.slice()
      const tx = `T${t + 1}`
      if (!m.up(s, L)) {
        finishInDoubt(m, n, t)
        emit(m, out, t, `fence(${tx}): ${Lname} down → in doubt`, n)
        return
      }
      const record = at(s, m.logAt(t))
      if (record === LogRecord.Commit) {
        const finished = decided(m, n, t)
        emit(m, out, t, `fence(${tx}): conflict, reads commit → committed${finished}`, n)
        return
      }
      if (record === LogRecord.None) {
        n[m.logAt(t)] = LogRecord.Abort
        if (n[m.decisionAt(t)] === LogRecord.None) n[m.decisionAt(t)] = LogRecord.Abort
      }
      // Abort here is not proof: a commit record that landed may have been forgotten since.
      const check = (m.scope.decideError ?? 'fence-and-check') === 'fence-and-check'
      startAbort(m, n, t, check)
      const read = record === LogRecord.None ? 'abort record inserted' : 'conflict, reads abort'
      emit(m, out, t, `fence(${tx}): ${read} → ${check ? 'roll back, then check' : 'abort'}`, n)
      return
    }

    case P.CommitPrepared: {
      for (let j = 0; j < info.toPrepare.length; j++) {
        if ((mask >> j) & 1) continue
        const k = info.toPrepare[j]!
        const step = `commitPrepared(${m.shard(k)})`
        const b = at(s, m.branchAt(t, k))
        const n = s.slice()
        n[m.maskAt(t)] = mask | (1 << j)
        if (m.up(s, k) && (b === Branch.Prepared || b === Branch.PreparedOwned)) {
          n[m.branchAt(t, k)] = Branch.Committed
          emit(m, out, t, step, n)
          if (mayLoseReply) {
            const lost = n.slice()
            lost[m.failedAt(t)] = 1
            emit(m, out, t, `${step}: committed, reply lost (left to recovery)`, lost, StepKind.Fault)
          }
        } else {
          // Shard down, or a recoverer already finished it (42704 / 1397): the outcome stands.
          n[m.failedAt(t)] = 1
          emit(m, out, t, `${step}: failed (left to recovery)`, n)
        }
      }
      return
    }

    case P.Forget: {
      const n = s.slice()
      if (m.up(s, L)) {
        if (at(s, m.logAt(t)) === LogRecord.Commit) n[m.logAt(t)] = LogRecord.None
        n[m.phaseAt(t)] = P.Done
        emit(m, out, t, 'forget', n)
      } else {
        n[m.phaseAt(t)] = P.Done
        emit(m, out, t, `forget: ${Lname} down (record left to recovery)`, n)
      }
      return
    }

    case P.Abort: {
      const k = info.touches[pos]!
      const n = s.slice()
      // A down shard already rolled back open branches; prepared ones stay for recovery.
      if (m.up(s, k)) {
        const b = at(s, m.branchAt(t, k))
        if (b === Branch.Prepared || b === Branch.PreparedOwned) n[m.failedAt(t)] = at(s, m.failedAt(t)) | PROVEN_ABORTED
        n[m.branchAt(t, k)] = Branch.RolledBack
      }
      n[m.posAt(t)] = pos + 1
      emit(m, out, t, `rollbackBranch(${m.shard(k)})${m.up(s, k) ? '' : ': shard down'}`, n)
      return
    }
  }
}

function emit(m: Model, out: Successors, t: number, step: string, n: Uint8Array, kind: StepKind = StepKind.Progress): void {
  if (kind === StepKind.Fault) n[0] = at(n, 0) - 1
  settleCoordinator(m, n, t)
  out.add(`C${t + 1}.${step}`, n, kind)
}

/** Its process died: open branches die with their sessions, prepared ones stay. */
export function crashCoordinator(m: Model, n: Uint8Array, t: number): void {
  for (let k = 0; k < m.K; k++) {
    const i = m.branchAt(t, k)
    if (n[i] === Branch.Open || n[i] === Branch.OpenWithRecord) n[i] = Branch.RolledBack
    m.releaseOwner(n, t, k)
  }
  n[m.phaseAt(t)] = P.Crashed
  clearProgress(m, n, t)
}

function insertCommitRecord(m: Model, n: Uint8Array, t: number): void {
  n[m.logAt(t)] = LogRecord.Commit
  if (n[m.decisionAt(t)] === LogRecord.None) n[m.decisionAt(t)] = LogRecord.Commit
}

/** The decision is durable: the caller hears "committed". Returns the label of the read-only finishing. */
function decided(m: Model, n: Uint8Array, t: number): string {
  n[m.verdictAt(t)] = Verdict.Committed
  n[m.phaseAt(t)] = P.CommitPrepared
  clearProgress(m, n, t)
  return finishReadOnly(m, n, t)
}

/**
 * Read-only branches end locally once the outcome is known; nobody else can
 * observe them, so they end in the step that decided. Never prepared: MySQL
 * would forget a read-only prepared branch once its connection went away.
 */
function finishReadOnly(m: Model, n: Uint8Array, t: number): string {
  const finished: string[] = []
  for (const k of m.tx[t]!.readOnly) {
    const i = m.branchAt(t, k)
    if (n[i] !== Branch.Open) continue
    n[i] = Branch.Finished
    finished.push(`finishReadOnly(${m.shard(k)})`)
  }
  return finished.length > 0 ? `; ${finished.join(' ')}` : ''
}

/**
 * In the abort phase, the `failed` byte says whether the abort is known
 * (0), or follows a fence that cannot tell "never committed" from "committed
 * and forgotten" (UNPROVEN_ABORT): then only a ROLLBACK PREPARED that found a
 * prepared branch (PROVEN_ABORTED) proves the tx never committed, since a
 * commit record is forgotten only once no branch is prepared.
 */
const UNPROVEN_ABORT = 1
const PROVEN_ABORTED = 2

function startAbort(m: Model, n: Uint8Array, t: number, unproven = false): void {
  n[m.verdictAt(t)] = unproven ? Verdict.None : Verdict.Aborted
  n[m.phaseAt(t)] = P.Abort
  n[m.posAt(t)] = 0
  n[m.failedAt(t)] = unproven ? UNPROVEN_ABORT : 0
}

const notSent = 'connection broke first, not sent → abort'

/**
 * The commit point's connection broke before its statement was sent (the driver had
 * seen the break, src/transaction/branch.ts): the branch's session can only roll back,
 * and nothing else can commit an open branch, so it is modelled rolled back at once.
 * The coordinator knows nothing was committed and aborts the rest.
 */
function brokenBeforeSending(m: Model, n: Uint8Array, t: number, k: number): Uint8Array {
  n[m.branchAt(t, k)] = Branch.RolledBack
  startAbort(m, n, t)
  return n
}

/**
 * A connection error, not a PK conflict: the write may or may not have taken
 * effect, so only the fence may decide: the coordinator's own, or recovery's.
 */
function decideFailed(m: Model, n: Uint8Array, t: number): void {
  if (m.bugs.rollbackOnDecideError) startAbort(m, n, t)
  else if ((m.scope.decideError ?? 'fence-and-check') === 'in-doubt') finishInDoubt(m, n, t)
  else n[m.phaseAt(t)] = P.FenceAfterDecideError
}

function outcomeOfDecideError(m: Model): string {
  if (m.bugs.rollbackOnDecideError) return 'abort (seeded bug)'
  return (m.scope.decideError ?? 'fence-and-check') === 'in-doubt' ? 'in doubt' : 'fence'
}

function finishInDoubt(m: Model, n: Uint8Array, t: number): void {
  n[m.verdictAt(t)] = Verdict.InDoubt
  n[m.phaseAt(t)] = P.Done
}

function clearProgress(m: Model, n: Uint8Array, t: number): void {
  n[m.posAt(t)] = 0
  n[m.maskAt(t)] = 0
  n[m.failedAt(t)] = 0
}

/**
 * Moves the coordinator past positions where it has nothing to do (a branch
 * already ended) and into the next phase when a phase is complete. Only
 * stable facts are skipped, so no interleaving is lost.
 */
export function settleCoordinator(m: Model, n: Uint8Array, t: number): void {
  const info = m.tx[t]!
  const phaseAt = m.phaseAt(t)
  const posAt = m.posAt(t)
  for (;;) {
    const phase = at(n, phaseAt)
    const pos = at(n, posAt)
    switch (phase) {
      case P.Prepare:
        if (at(n, m.maskAt(t)) === (1 << info.toPrepare.length) - 1) {
          n[m.maskAt(t)] = 0
          n[phaseAt] = P.Decide
          continue
        }
        return
      case P.CommitPrepared:
        if (at(n, m.maskAt(t)) === (1 << info.toPrepare.length) - 1) {
          const allCommitted = at(n, m.failedAt(t)) === 0
          n[phaseAt] = allCommitted || m.bugs.forgetBeforeAllCommitted ? P.Forget : P.Done
          clearProgress(m, n, t)
          continue
        }
        return
      case P.Abort: {
        const k = info.touches[pos]
        if (k === undefined) {
          const failed = at(n, m.failedAt(t))
          if (failed & UNPROVEN_ABORT) n[m.verdictAt(t)] = failed & PROVEN_ABORTED ? Verdict.Aborted : Verdict.InDoubt
          n[posAt] = 0
          n[phaseAt] = P.Done
          continue
        }
        const b = at(n, m.branchAt(t, k))
        if (b === Branch.None || b === Branch.Committed || b === Branch.RolledBack || b === Branch.Finished) {
          n[posAt] = pos + 1
          continue
        }
        return
      }
      case P.Done:
        // The process is finished with this tx: every branch connection is released or destroyed.
        for (let k = 0; k < m.K; k++) {
          const i = m.branchAt(t, k)
          if (n[i] === Branch.Open || n[i] === Branch.OpenWithRecord) n[i] = Branch.RolledBack
          m.releaseOwner(n, t, k)
        }
        clearProgress(m, n, t)
        return
      default:
        return
    }
  }
}

/** How far the coordinator got; grows with every step it takes (see recovery-completion.ts). */
export function coordinatorProgress(m: Model, s: Uint8Array, t: number): number {
  const phase = at(s, m.phaseAt(t))
  if (phase === P.Crashed) return P.Done * 64
  return phase * 64 + at(s, m.posAt(t)) + popcount(at(s, m.maskAt(t)))
}

export function popcount(x: number): number {
  let c = 0
  for (let v = x; v; v &= v - 1) c++
  return c
}
