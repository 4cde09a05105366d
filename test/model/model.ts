import type { ModelScope, SeededBugs } from './model-scope.js'
import { Branch } from './state-codes.js'

/** What a coordinator will do with one transaction, derived once from its plan. */
export interface TxInfo {
  /** Shard index per touch, in touch order. */
  touches: readonly number[]
  writes: readonly boolean[]
  written: readonly number[]
  /** Read-only branches the coordinator finishes locally. */
  readOnly: readonly number[]
  /** Branches prepareBranch runs on; the log shard is never among them. */
  toPrepare: readonly number[]
  /** The shards named in the commit record: every branch whose outcome must agree. */
  participants: readonly number[]
  twoPhase: boolean
  /** The log shard wrote: the commit record goes into its open branch. */
  logInBranch: boolean
  /** Bit k set when the transaction wrote on shard k. */
  writtenMask: number
}

/**
 * A scope turned into fixed facts and the layout of the state vector:
 *
 * `[failuresLeft, up[k]..., per tx (branch[k]..., log, decision, phase, pos, mask, failed, verdict), per recoverer (see STAGE…)]`
 *
 * `decision` is a ghost: the first record the log ever held for the tx,
 * i.e. the decision, kept after the row is forgotten so invariants can use it.
 */
export class Model {
  readonly scope: ModelScope
  readonly bugs: Required<SeededBugs>
  readonly K: number
  readonly T: number
  readonly R: number
  readonly L: number
  readonly names: readonly string[]
  readonly mysql: readonly boolean[]
  readonly tx: readonly TxInfo[]

  readonly txSize: number
  readonly recSize: number
  readonly recStart: number
  readonly size: number

  constructor(scope: ModelScope) {
    this.scope = scope
    this.bugs = {
      recovererAbortsWithoutFence: false,
      forgetBeforeAllCommitted: false,
      coordinatorIgnoresInsertResult: false,
      forgetWithoutReachingAll: false,
      commitRecordsReadAfterListing: false,
      prepareReadOnlyBranches: false,
      rollbackOnDecideError: false,
      expireAbortsEarly: false,
      sentTakenForUnsent: false,
      ...scope.bugs,
    }
    this.names = scope.shards.map((s) => s.name)
    this.mysql = scope.shards.map((s) => s.kind === 'mysql')
    this.K = scope.shards.length
    this.T = scope.transactions.length
    this.R = scope.recoverers
    const index = (name: string) => {
      const i = this.names.indexOf(name)
      if (i < 0) throw new Error(`scope ${scope.name}: unknown shard ${name}`)
      return i
    }
    this.L = index(scope.logShard)
    // Masks of shards and of transactions are stored in one byte each.
    if (this.K > 8 || this.T > 8) throw new Error('the model stores shard and tx sets in one byte: at most 8 of each')
    this.tx = scope.transactions.map((plan) => {
      const touches = plan.touches.map((t) => index(t.shard))
      if (new Set(touches).size !== touches.length) throw new Error('a plan touches each shard once')
      const writes = plan.touches.map((t) => t.writes)
      const written = touches.filter((_, i) => writes[i])
      // A read-only transaction never reaches the protocol: nothing to check.
      if (written.length === 0) throw new Error(`scope ${scope.name}: every plan writes at least one shard`)
      const readOnly = touches.filter((_, i) => !writes[i])
      const twoPhase = written.length >= 2
      const logInBranch = twoPhase && written.includes(this.L)
      const prepareAll = twoPhase && this.bugs.prepareReadOnlyBranches
      const prepared = prepareAll ? touches : written
      return {
        touches,
        writes,
        written,
        readOnly: prepareAll ? [] : readOnly,
        toPrepare: twoPhase ? prepared.filter((k) => !(logInBranch && k === this.L)) : [],
        participants: prepared,
        twoPhase,
        logInBranch,
        writtenMask: written.reduce((mask, k) => mask | (1 << k), 0),
      }
    })
    this.txSize = this.K + 7
    this.recSize = 8 + this.K
    this.recStart = 1 + this.K + this.T * this.txSize
    this.size = this.recStart + this.R * this.recSize
  }

  initial(): Uint8Array {
    const s = new Uint8Array(this.size)
    s[0] = this.scope.failures
    for (let k = 0; k < this.K; k++) s[1 + k] = 1
    return s
  }

  up(s: Uint8Array, k: number): boolean {
    return s[1 + k] === 1
  }

  // Offsets of the per-transaction fields.
  branchAt(t: number, k: number): number {
    return 1 + this.K + t * this.txSize + k
  }
  logAt(t: number): number {
    return 1 + this.K + t * this.txSize + this.K
  }
  decisionAt(t: number): number {
    return this.logAt(t) + 1
  }
  phaseAt(t: number): number {
    return this.logAt(t) + 2
  }
  posAt(t: number): number {
    return this.logAt(t) + 3
  }
  maskAt(t: number): number {
    return this.logAt(t) + 4
  }
  failedAt(t: number): number {
    return this.logAt(t) + 5
  }
  verdictAt(t: number): number {
    return this.logAt(t) + 6
  }

  // Offsets of a recoverer's round state, relative to its block.
  recAt(r: number): number {
    return this.recStart + r * this.recSize
  }
  static readonly STAGE = 0
  /** The transaction being judged, fenced and resolved (or considered for forgetting). */
  static readonly TX = 1
  /** The shard resolveBranch is at. */
  static readonly SHARD = 2
  /** Shards listed so far in this round. */
  static readonly LISTED = 3
  /** Commit records read in this round: the only ones it may forget. */
  static readonly RECORDS = 4
  /** Transactions whose record this round must not forget (a participant down, a branch left prepared). */
  static readonly BLOCKED = 5
  /** The decision read for the current transaction: 1 commit, 2 abort. */
  static readonly DECISION = 6
  /** Shards where the current transaction's branch is known finished. */
  static readonly RESOLVED = 7
  /** Transactions seen prepared on shard k by this round's listing (cleared once handled). */
  seenOff(k: number): number {
    return 8 + k
  }

  /**
   * The connection that prepared a MySQL branch is gone (coordinator crashed or
   * finished, server restarted): the branch becomes finishable by anyone, except
   * that MySQL does not persist a read-only prepared branch; it just vanishes.
   */
  releaseOwner(n: Uint8Array, t: number, k: number): void {
    const i = this.branchAt(t, k)
    if (n[i] !== Branch.PreparedOwned) return
    n[i] = (this.tx[t]!.writtenMask >> k) & 1 ? Branch.Prepared : Branch.RolledBack
  }

  shard(k: number): string {
    return this.names[k]!
  }
}

/** Reads one byte; typed-array indexing is unchecked by the compiler, never out of range here. */
export function at(s: Uint8Array, i: number): number {
  return s[i]!
}
