import type { Counter, Histogram, Meter } from '@opentelemetry/api'

/**
 * The metrics shardtx records beside `cluster.stats()`. Durations are in seconds,
 * as OpenTelemetry's semantic conventions ask; the pool wait is the conventions'
 * own `db.client.connection.wait_time`, named by shard in `db.client.connection.pool.name`.
 */
export interface Instruments {
  /** `shardtx.transaction.commits`, by `shardtx.commit_path`. */
  commits: Counter
  /** `shardtx.transaction.aborts`, by `shardtx.abort.cause`. */
  aborts: Counter
  /** `shardtx.transaction.in_doubt`: attempts whose outcome this process could not learn. */
  inDoubt: Counter
  /** `shardtx.recovery.branches`: in-doubt branches recovery settled, by `shardtx.decision`. */
  recovered: Counter
  /** `shardtx.transaction.duration`: committed attempts, callback included, by `shardtx.commit_path`. */
  commitDuration: Histogram
  /** `db.client.connection.wait_time`: how long a branch waited for its shard's pool. */
  poolWait: Histogram
  /** `shardtx.admission.wait_time`: how long an attempt queued before it was admitted. */
  admissionWait: Histogram
}

// Latencies of a commit run from about a millisecond to the timeout.
const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

export function createInstruments(meter: Meter): Instruments {
  const seconds = (name: string, description: string): Histogram =>
    meter.createHistogram(name, { unit: 's', description, advice: { explicitBucketBoundaries: SECONDS_BUCKETS } })
  return {
    commits: meter.createCounter('shardtx.transaction.commits', { unit: '{transaction}', description: 'Committed transactions, by commit path' }),
    aborts: meter.createCounter('shardtx.transaction.aborts', { unit: '{transaction}', description: 'Attempts rolled back everywhere, by cause' }),
    inDoubt: meter.createCounter('shardtx.transaction.in_doubt', { unit: '{transaction}', description: 'Attempts whose outcome is left to recovery' }),
    recovered: meter.createCounter('shardtx.recovery.branches', { unit: '{branch}', description: 'In-doubt branches settled by recovery, by decision' }),
    commitDuration: seconds('shardtx.transaction.duration', 'Wall time of committed transactions, callback included'),
    poolWait: seconds('db.client.connection.wait_time', 'Time a transaction branch waited for a pooled connection'),
    admissionWait: seconds('shardtx.admission.wait_time', 'Time an attempt waited for admission'),
  }
}
