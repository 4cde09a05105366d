import type { ResolvedClusterConfig } from '../config/cluster-options.js'
import type { Logger } from '../logger.js'
import type { LockWaitSource, Participant } from '../protocol/participant.js'
import { admissionCapacity } from './admission-capacity.js'
import { AdmissionGate, type AdmissionStats, DEFAULT_RELIEF_MS } from './admission-gate.js'
import { DeadlockDetector, type DeadlockStats } from './deadlock-detector.js'

/** What one cluster does against contention: the admission gate, and the deadlock detector unless turned off. */
export interface Contention {
  readonly gate: AdmissionGate
  readonly detector: DeadlockDetector | undefined
}

export function createContention(
  config: ResolvedClusterConfig,
  participants: ReadonlyMap<string, Participant>,
  logger: Logger,
): Contention {
  const capacity = admissionCapacity(config.shards.map((s) => s.pool))
  // Relief comes before the stuck-queue timeout, also when maxWait is set below deadlockTimeout.
  const reliefMs = Math.min(config.deadlockTimeoutMs === false ? DEFAULT_RELIEF_MS : config.deadlockTimeoutMs, config.maxWaitMs / 2)
  const gate = new AdmissionGate(capacity, config.maxWaitMs, { reliefMs })
  if (config.deadlockTimeoutMs === false) return { gate, detector: undefined }
  const sources = new Map<string, LockWaitSource>()
  for (const [shardId, participant] of participants) if (participant.lockWaits !== undefined) sources.set(shardId, participant.lockWaits)
  return { gate, detector: new DeadlockDetector(sources, config.deadlockTimeoutMs, logger) }
}

/** The counters `cluster.stats()` reports for contention. */
export function contentionStats(contention: Contention): { admission: AdmissionStats; deadlocks: DeadlockStats } {
  return {
    admission: contention.gate.stats(),
    deadlocks: contention.detector?.stats() ?? { enabled: false, shards: [], rounds: 0, victims: 0, waitToVictimMs: { p50Ms: undefined, maxMs: undefined } },
  }
}
