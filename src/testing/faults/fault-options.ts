import { LocalClusterError } from '../local-cluster-errors.js'

/**
 * How {@link LocalCluster.partition} breaks a shard's path.
 *
 * ```ts
 * const mode: PartitionMode = 'blackhole'
 * ```
 */
export type PartitionMode = 'blackhole' | 'reset'

/**
 * Options of {@link LocalCluster.partition}.
 *
 * ```ts
 * await local.partition('pg-1', { mode: 'reset' })
 * ```
 */
export interface PartitionOptions {
  /** `blackhole` (default): bytes are dropped, sockets stay open. `reset`: connections get a TCP RST. */
  mode?: PartitionMode
}

const MODES: readonly PartitionMode[] = ['blackhole', 'reset']

/** The most latency {@link LocalCluster.delay} adds: a minute is already far beyond any test's patience. */
export const MAX_DELAY_MS = 60_000

/**
 * Checks partition options, so a typo fails loudly instead of testing nothing.
 */
export function partitionMode(options: unknown): PartitionMode {
  if (options === undefined) return 'blackhole'
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw invalid('partition', "options must be an object like { mode: 'blackhole' }")
  }
  for (const key of Object.keys(options)) {
    if (key !== 'mode') throw invalid('partition', `unknown option "${key}"; known: mode`)
  }
  const mode = (options as PartitionOptions).mode ?? 'blackhole'
  if (!MODES.includes(mode)) {
    throw invalid('partition', `unknown mode ${JSON.stringify(mode)}; use ${MODES.map((m) => `'${m}'`).join(' or ')}`)
  }
  return mode
}

/**
 * Checks an added latency in ms.
 */
export function delayMs(ms: unknown): number {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || ms > MAX_DELAY_MS) {
    throw invalid('delay', `ms must be a number from 0 to ${MAX_DELAY_MS}, got ${typeof ms === 'number' ? ms : JSON.stringify(ms)}`)
  }
  return ms
}

function invalid(operation: string, problem: string): LocalClusterError {
  return new LocalClusterError('LOCAL_CLUSTER_OPTIONS', `${operation}: ${problem}`)
}
