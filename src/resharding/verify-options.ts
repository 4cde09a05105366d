import { ConfigError } from '../errors.js'
import { timeoutOption } from '../config/cluster-options.js'
import { functionOption, integerAtLeast, plainObject, rejectUnknownKeys } from '../config/validate.js'
import type { PlacementReport, VerifyCursor } from './placement-report.js'
import { verifyCursorFrom } from './placement-shape.js'

/**
 * Options of `cluster.verifyPlacement()`.
 *
 * ```ts
 * const controller = new AbortController()
 * let report = await cluster.verifyPlacement({ pageSize: 2_000, signal: controller.signal })
 * if (!report.complete) report = await cluster.verifyPlacement({ resume: report.cursor })
 * ```
 */
export interface VerifyPlacementOptions {
  /** Rows per page (default 5 000): each page is one short fenced transaction on one shard, read by key. */
  pageSize?: number
  /** Bound on one page's transaction, in ms (default 60 000). */
  timeout?: number
  /** The `cursor` of an incomplete report: go on where it stopped, with its counts. Refused (ConfigError) for another cluster, table set or shard set. */
  resume?: VerifyCursor
  /** Called after every page with the report so far (incomplete, with the cursor to resume from; complete after the last page). */
  onProgress?: (report: PlacementReport) => void
  /** Stops at the next page boundary: the report comes back `complete: false`, with its `cursor`. */
  signal?: AbortSignal
}

export interface ResolvedVerifyOptions {
  pageSize: number
  timeoutMs: number
  resume: VerifyCursor | undefined
  onProgress: ((report: PlacementReport) => void) | undefined
  signal: AbortSignal | undefined
}

const KNOWN = ['pageSize', 'timeout', 'resume', 'onProgress', 'signal']

export function resolveVerifyOptions(input: unknown): ResolvedVerifyOptions {
  const options = input === undefined ? {} : plainObject('options', input, 'VerifyPlacementOptions')
  rejectUnknownKeys('options', options, KNOWN)
  const signal = options.signal
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new ConfigError('options.signal', 'must be an AbortSignal')
  return {
    pageSize: integerAtLeast('options.pageSize', options.pageSize, 1) ?? 5_000,
    timeoutMs: timeoutOption('options.timeout', options.timeout) ?? 60_000,
    resume: options.resume === undefined ? undefined : verifyCursorFrom(options.resume, 'options.resume'),
    onProgress: options.onProgress === undefined ? undefined : functionOption<(report: PlacementReport) => void>('options.onProgress', options.onProgress),
    signal,
  }
}
