import type { AdmissionStats } from './contention/admission-gate.js'
import type { DeadlockStats } from './contention/deadlock-detector.js'

/**
 * Counters of one cluster since it was created, from `cluster.stats()`.
 *
 * ```ts
 * const { commits, latency } = cluster.stats(); console.log(commits.twoPhase, latency.p99Ms)
 * ```
 */
export interface ClusterStats {
  commits: {
    /** No branch wrote: nothing to commit. */
    readOnly: number
    /** One branch wrote: committed directly, no log record. */
    onePhase: number
    /** Two or more branches wrote: prepared, decided, committed. */
    twoPhase: number
  }
  /** Transactions that ended rolled back everywhere. */
  aborts: number
  /** Transactions whose outcome this process could not learn. */
  inDoubt: number
  /** Committed transactions whose commit phase left branches to recovery. */
  commitPhaseIncomplete: number
  recovered: {
    committed: number
    rolledBack: number
  }
  /** Wall time of committed transactions, callback included, over the last 1024 of them. */
  latency: { count: number; p50Ms: number | undefined; p99Ms: number | undefined; maxMs: number | undefined }
  /** The admission gate: how many transactions ran, queued, and gave up in the queue. */
  admission: AdmissionStats
  /** The distributed deadlock detector: rounds and victims. */
  deadlocks: DeadlockStats
}

const WINDOW = 1024

/** Where the coordinator counts; `snapshot()` is what users see. */
export class StatsRecorder {
  readonly commits = { readOnly: 0, onePhase: 0, twoPhase: 0 }
  aborts = 0
  inDoubt = 0
  commitPhaseIncomplete = 0
  readonly recovered = { committed: 0, rolledBack: 0 }
  readonly #latencies = new Float64Array(WINDOW)
  #latencyCount = 0

  recordCommitLatency(ms: number): void {
    this.#latencies[this.#latencyCount++ % WINDOW] = ms
  }

  snapshot(): Omit<ClusterStats, 'admission' | 'deadlocks'> {
    const sorted = this.#latencies.slice(0, Math.min(this.#latencyCount, WINDOW)).sort()
    const at = (q: number): number | undefined =>
      sorted.length === 0 ? undefined : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
    return {
      commits: { ...this.commits },
      aborts: this.aborts,
      inDoubt: this.inDoubt,
      commitPhaseIncomplete: this.commitPhaseIncomplete,
      recovered: { ...this.recovered },
      latency: { count: this.#latencyCount, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: sorted[sorted.length - 1] },
    }
  }
}
