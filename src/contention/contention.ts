import type { ResolvedClusterConfig } from '../config/cluster-options.js'
import type { Logger } from '../logger.js'
import type { LockWaitSource, Participant } from '../protocol/participant.js'
import { admissionCapacity } from './admission-capacity.js'
import { AdmissionGate, type AdmissionStats, DEFAULT_RELIEF_MS } from './admission-gate.js'
import { ClusterLane } from './cluster-lane.js'
import { DeadlockDetector, type DeadlockStats } from './deadlock-detector.js'
import type { LaneLock } from './lane-lock.js'

/** What one cluster does against contention: the admission gate, the lane unless turned off, and the deadlock detector unless turned off. */
export interface Contention {
  readonly gate: AdmissionGate
  readonly lane: ClusterLane | undefined
  readonly detector: DeadlockDetector | undefined
}

/**
 * `openLane` opens the lane's lock on the log shard in force (`logShardId`),
 * waited for at most `waitMs` (`clusterLane: true` only).
 */
export function createContention(
  config: ResolvedClusterConfig,
  participants: ReadonlyMap<string, Participant>,
  logger: Logger,
  openLane: (waitMs: number) => LaneLock,
  logShardId: () => string,
): Contention {
  const capacity = admissionCapacity(config.shards.map((s) => s.pool))
  // Relief comes before the stuck-queue timeout, also when maxWait is set below deadlockTimeout.
  const reliefMs = Math.min(config.deadlockTimeoutMs === false ? DEFAULT_RELIEF_MS : config.deadlockTimeoutMs, config.maxWaitMs / 2)
  const gate = new AdmissionGate(capacity, config.maxWaitMs, { reliefMs })
  // The lane is waited for at most half of maxWait, as a queue that does not move is: its holder
  // waits only for transactions outside the lane, whose cycles the detector or lock timeouts end.
  const laneWaitMs = config.maxWaitMs / 2
  const lane = config.clusterLane ? new ClusterLane(() => openLane(laneWaitMs), laneWaitMs, logShardId) : undefined
  if (config.deadlockTimeoutMs === false) return { gate, lane, detector: undefined }
  const sources = new Map<string, LockWaitSource>()
  for (const [shardId, participant] of participants) if (participant.lockWaits !== undefined) sources.set(shardId, participant.lockWaits)
  return { gate, lane, detector: new DeadlockDetector(sources, config.deadlockTimeoutMs, logger) }
}

/** The counters `cluster.stats()` reports for contention. */
export function contentionStats(contention: Contention): { admission: AdmissionStats; deadlocks: DeadlockStats } {
  const { gate, lane } = contention
  return {
    admission: gate.stats(lane?.stats(gate.laneWanted())),
    deadlocks: contention.detector?.stats() ?? { enabled: false, shards: [], rounds: 0, victims: 0, waitToVictimMs: { p50Ms: undefined, maxMs: undefined } },
  }
}
