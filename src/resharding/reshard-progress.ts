import type { ReshardJob, ReshardState } from './reshard-store.js'

/**
 * Where a job stands, as `onProgress`, `cluster.reshardStatus()` and
 * `shardtx reshard status` report it.
 *
 * ```ts
 * const p = await cluster.reshardStatus()
 * if (p) console.log(`${p.done}/${p.total} batches, ${p.rowsMoved} rows, ETA ${p.etaMs ?? '?'} ms`)
 * ```
 */
export interface ReshardProgress {
  jobId: string
  state: ReshardState
  /** Batches done (moved to their new owner and not moved back). */
  done: number
  total: number
  /** Rows the batches of this job moved, in either direction. */
  rowsMoved: number
  /** Rows the plan counted in the batches not done yet. */
  rowsLeft: number
  /** Rows per second since this mover started (undefined before its first batch). */
  rowsPerSecond: number | undefined
  /** Estimated time to finish at that rate. */
  etaMs: number | undefined
  /** The shard sets before and after. */
  from: string[]
  to: string[]
}

/** The progress of `job`, with the rate `moved` rows over `elapsedMs` of this mover when known. */
export function progressOf(job: ReshardJob, moved?: { rows: number; elapsedMs: number }): ReshardProgress {
  const batches = job.plan.batches
  const pending =
    job.state === 'done' || job.state === 'reversed' ? [] : job.state === 'reversing' ? batches.slice(0, job.done) : batches.slice(job.done)
  const rowsLeft = pending.reduce((sum, b) => sum + b.rows, 0)
  const rate = moved === undefined || moved.elapsedMs <= 0 || moved.rows === 0 ? undefined : (moved.rows * 1000) / moved.elapsedMs
  return {
    jobId: job.id,
    state: job.state,
    done: job.done,
    total: job.total,
    rowsMoved: job.rowsMoved,
    rowsLeft,
    rowsPerSecond: rate,
    etaMs: rate === undefined ? undefined : Math.round((rowsLeft / rate) * 1000),
    from: job.plan.from.map((s) => s.id),
    to: job.plan.to.map((s) => s.id),
  }
}
