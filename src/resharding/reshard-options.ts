import { ConfigError } from '../errors.js'
import { functionOption, integerAtLeast, plainObject, positiveMs, rejectUnknownKeys } from '../config/validate.js'
import type { ReshardProgress } from './reshard-progress.js'

/** Rows per batch when `batchSize` is not given. */
export const DEFAULT_BATCH_SIZE = 500
/**
 * The mover's share of the time when `dutyCycle` is not given: a quarter, so that the
 * application keeps most of a small machine while rows move (in the resharding bench,
 * W1 kept 0.87× of its throughput at 0.2 and 0.67× at 0.5, mover in its own process).
 */
export const DEFAULT_DUTY_CYCLE = 0.25

/**
 * Options of `cluster.reshard()` and `cluster.reverseReshard()`.
 *
 * ```ts
 * await cluster.reshard(next, { batchSize: 500, dutyCycle: 0.25, onProgress: (p) => console.log(p.done, p.total) })
 * ```
 */
export interface ReshardOptions {
  /** Rows per batch, as counted by the plan (default 500): each batch is one transaction that holds its two shards' fences. */
  batchSize?: number
  /**
   * Share of the time the mover works, in (0, 1] (default 0.25): after a batch of t ms
   * it pauses t × (1/dutyCycle − 1) ms. A batch holds its shards' fences in two short
   * windows (docs/resharding.md) and uses CPU on the servers; the pauses leave them to
   * the application.
   */
  dutyCycle?: number
  /** Longest wait for one shard's fence, in ms (default 100); branches on that shard fail fast (retryably) meanwhile. */
  lockWaitMs?: number
  /** Give up a batch after this many ms of blocked tries (default 30 000); the job stays where it is, resumable. */
  timeoutMs?: number
  /** Bound on one batch's transaction, in ms (default 30 000). */
  batchTimeoutMs?: number
  /** Stop (at a batch boundary, the job left running and resumable) after this many batches. */
  maxBatches?: number
  /** Called after the job starts and after every batch. */
  onProgress?: (progress: ReshardProgress) => void
  /** Stops the mover at the next batch boundary; the job stays resumable. */
  signal?: AbortSignal
}

export interface ResolvedReshardOptions {
  batchSize: number
  dutyCycle: number
  lockWaitMs: number
  timeoutMs: number
  batchTimeoutMs: number
  maxBatches: number
  onProgress: ((progress: ReshardProgress) => void) | undefined
  signal: AbortSignal | undefined
}

const KNOWN = ['batchSize', 'dutyCycle', 'lockWaitMs', 'timeoutMs', 'batchTimeoutMs', 'maxBatches', 'onProgress', 'signal']

export function resolveReshardOptions(input: unknown): ResolvedReshardOptions {
  const options = input === undefined ? {} : plainObject('options', input, 'ReshardOptions')
  rejectUnknownKeys('options', options, KNOWN)
  const dutyCycle = options.dutyCycle ?? DEFAULT_DUTY_CYCLE
  if (typeof dutyCycle !== 'number' || !(dutyCycle > 0 && dutyCycle <= 1)) {
    throw new ConfigError('options.dutyCycle', 'must be a number in (0, 1]')
  }
  const signal = options.signal
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new ConfigError('options.signal', 'must be an AbortSignal')
  return {
    batchSize: integerAtLeast('options.batchSize', options.batchSize, 1) ?? DEFAULT_BATCH_SIZE,
    dutyCycle,
    lockWaitMs: positiveMs('options.lockWaitMs', options.lockWaitMs) ?? 100,
    timeoutMs: positiveMs('options.timeoutMs', options.timeoutMs) ?? 30_000,
    batchTimeoutMs: positiveMs('options.batchTimeoutMs', options.batchTimeoutMs) ?? 30_000,
    maxBatches: integerAtLeast('options.maxBatches', options.maxBatches, 1) ?? Number.POSITIVE_INFINITY,
    onProgress: options.onProgress === undefined ? undefined : functionOption<(progress: ReshardProgress) => void>('options.onProgress', options.onProgress),
    signal,
  }
}
