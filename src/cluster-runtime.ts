import type { ResolvedClusterConfig } from './config/cluster-options.js'
import type { Contention } from './contention/contention.js'
import { ConfigError } from './errors.js'
import type { DecisionForgetter } from './protocol/decision-forgetter.js'
import type { DecisionLogs } from './protocol/decision-logs.js'
import type { Logger } from './logger.js'
import type { Participant } from './protocol/participant.js'
import type { StepEvent } from './protocol/protocol-steps.js'
import type { StatsRecorder } from './stats.js'
import type { Telemetry } from './observability/telemetry.js'
import type { TransactionLog } from './protocol/transaction-log.js'
import type { TopologyState } from './topology/topology-state.js'

/** What the coordinator, transactions and recovery share inside one cluster. */
export interface ClusterRuntime {
  readonly config: ResolvedClusterConfig
  readonly participants: ReadonlyMap<string, Participant>
  /**
   * The decision log in force: on the topology's log shard as this process last
   * loaded it. A transaction decides on the log of the routing it started with
   * (`logs.of(ctx.logShardId)`), a recoverer on the one a shard's fence names.
   */
  readonly log: TransactionLog
  /** The decision log (and its forgetter) on any shard: the log can move (docs/moving-the-log.md). */
  readonly logs: DecisionLogs
  readonly logger: Logger
  readonly stats: StatsRecorder
  /** The admission gate and the distributed deadlock detector. */
  readonly contention: Contention
  /** OpenTelemetry spans and metrics; does nothing without `@opentelemetry/api`. */
  readonly telemetry: Telemetry
  /** The stored topology this process routes by, and each shard's epoch fence. */
  readonly topology: TopologyState
  /**
   * The log shard a shard's fence row names (undefined: no row or no fence table),
   * read now, within the recovery bound: the log that decides the branches listed
   * there before the read (docs/moving-the-log.md).
   */
  fenceLogOf(shardId: string): Promise<string | undefined>
  /** Routes a key to a shard id. */
  shardFor(key: unknown): string
  /**
   * Every shard the topology in force routes some key to (during a resharding job:
   * those of both sets), in configuration order.
   */
  routedShardIds(): readonly string[]
  /** Reports a protocol step to the `onStep` hook; undefined when there is none to wait for. */
  step(event: StepEvent): Promise<void> | undefined
  /** Aborted once `close()` began: work that tries again within a bound stops trying. */
  readonly closing: AbortSignal
}

/**
 * The participant of `shardId`, or a ConfigError listing the shards there are.
 */
export function participantOf(rt: ClusterRuntime, shardId: string): Participant {
  const participant = rt.participants.get(shardId)
  if (participant === undefined) {
    throw new ConfigError('shardId', `unknown shard "${String(shardId)}" (known: ${[...rt.participants.keys()].join(', ')})`)
  }
  return participant
}
