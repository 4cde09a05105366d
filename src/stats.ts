/**
 * Counters of one cluster since it was created, from `cluster.stats()`.
 *
 * ```ts
 * const { commits } = cluster.stats(); console.log(commits.twoPhase)
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
}

export function emptyStats(): ClusterStats {
  return {
    commits: { readOnly: 0, onePhase: 0, twoPhase: 0 },
    aborts: 0,
    inDoubt: 0,
    commitPhaseIncomplete: 0,
    recovered: { committed: 0, rolledBack: 0 },
  }
}
