import type { ResolvedClusterConfig } from './config/cluster-options.js'
import type { Contention } from './contention/contention.js'
import { ConfigError } from './errors.js'
import type { DecisionForgetter } from './protocol/decision-forgetter.js'
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
  readonly log: TransactionLog
  readonly logger: Logger
  readonly forgetter: DecisionForgetter
  readonly stats: StatsRecorder
  /** The admission gate and the distributed deadlock detector. */
  readonly contention: Contention
  /** OpenTelemetry spans and metrics; does nothing without `@opentelemetry/api`. */
  readonly telemetry: Telemetry
  /** The stored topology this process routes by, and each shard's epoch fence. */
  readonly topology: TopologyState
  /** Routes a key to a shard id. */
  shardFor(key: unknown): string
  /**
   * Every shard the topology in force routes some key to (during a resharding job:
   * those of both sets), in configuration order.
   */
  routedShardIds(): readonly string[]
  /** Reports a protocol step to the `onStep` hook; undefined when there is none to wait for. */
  step(event: StepEvent): Promise<void> | undefined
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
