import type { ResolvedClusterConfig } from '../config/cluster-options.js'
import type { Logger } from '../logger.js'
import type { Participant } from '../protocol/participant.js'
import type { EpochFence } from './epoch-fence.js'
import { createFenceTable } from './migrate-topology.js'
import { fenceTableOf, topologyTableOf } from './table-names.js'
import { TopologyState } from './topology-state.js'
import { TopologyStore } from './topology-store.js'
import { routingSet, type Topology } from './topology.js'
import type { MoveRouting } from './routing.js'

/** Everything topology-related a cluster holds: the store, each shard's fence, the state routing reads. */
export interface ClusterTopology {
  store: TopologyStore
  fences: ReadonlyMap<string, EpochFence>
  state: TopologyState
}

export function createClusterTopology(
  config: ResolvedClusterConfig,
  participants: ReadonlyMap<string, Participant>,
  logger: Logger,
  fenceOf: (participant: Participant, fenceTable: string) => EpochFence,
  movingRing: (topology: Topology) => Promise<MoveRouting>,
): ClusterTopology {
  const store = new TopologyStore(participants.get(config.logShardId)!.knex, topologyTableOf(config.logTable))
  const fences = new Map<string, EpochFence>()
  for (const participant of participants.values()) fences.set(participant.shardId, fenceOf(participant, fenceTableOf(config.logTable)))
  const state = new TopologyState({
    configured: routingSet(config.shards),
    logShardId: config.logShardId,
    mode: config.topology,
    store,
    fences,
    createFenceTable: (shardId) => createFenceTable(participants.get(shardId)!, config.logTable),
    movingRing,
    logger,
  })
  return { store, fences, state }
}
