import { booleanOption, functionOption, plainObject, positiveMs, rejectUnknownKeys } from '../config/validate.js'

/**
 * Options of `cluster.setTopology()`.
 *
 * ```ts
 * await cluster.setTopology(next, { allowEmptyMove: true, lockWaitMs: 100, timeoutMs: 10_000 })
 * ```
 */
export interface SetTopologyOptions {
  /**
   * Allow a change that moves slots of declared sharded tables, once none of those
   * slots holds rows (checked before and again while every fence is held).
   * `setTopology` never moves rows (`reshard` does): without this the change is refused.
   */
  allowEmptyMove?: boolean
  /** Longest wait for one shard's fence, in ms (default 100): branches on that shard queue behind it meanwhile. */
  lockWaitMs?: number
  /** Give up after this many ms of blocked attempts (default 30 000); nothing has changed then. */
  timeoutMs?: number
  /** Observes each step of the change as it is about to happen (progress, tests); awaited. */
  onStep?: (event: TopologyStepEvent) => void | Promise<void>
}

/**
 * One step of a topology change, reported before it happens: `claim` (epoch N+1
 * as pending), `hold` (one shard's fence), `raise` (one shard's fence to N+1),
 * `publish`.
 *
 * ```ts
 * await cluster.setTopology(next, { onStep: (e) => console.log(e.step, e.epoch, e.shardId ?? '') })
 * ```
 */
export interface TopologyStepEvent {
  step: 'claim' | 'hold' | 'raise' | 'publish'
  epoch: number
  shardId?: string
}

/** {@link SetTopologyOptions} checked, with the defaults filled in. */
export interface ResolvedSetTopologyOptions {
  allowEmptyMove: boolean
  lockWaitMs: number
  timeoutMs: number
  onStep: ((event: TopologyStepEvent) => void | Promise<void>) | undefined
}

const KNOWN = ['allowEmptyMove', 'lockWaitMs', 'timeoutMs', 'onStep']

/**
 * The options of a topology change, refused with a ConfigError naming the field
 * before anything is claimed or locked (as `moveLog`'s and `reshard`'s are).
 *
 * ```ts
 * resolveSetTopologyOptions({ lockWaitMs: 'abc' }) // ConfigError: options.lockWaitMs: must be a finite number of milliseconds above 0
 * ```
 */
export function resolveSetTopologyOptions(input: unknown): ResolvedSetTopologyOptions {
  const options = input === undefined ? {} : plainObject('options', input, 'SetTopologyOptions')
  rejectUnknownKeys('options', options, KNOWN)
  return {
    allowEmptyMove: booleanOption('options.allowEmptyMove', options.allowEmptyMove) ?? false,
    lockWaitMs: positiveMs('options.lockWaitMs', options.lockWaitMs) ?? 100,
    timeoutMs: positiveMs('options.timeoutMs', options.timeoutMs) ?? 30_000,
    onStep: options.onStep === undefined ? undefined : functionOption<(event: TopologyStepEvent) => void | Promise<void>>('options.onStep', options.onStep),
  }
}
