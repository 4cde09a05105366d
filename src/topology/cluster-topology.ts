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
  /** The topology table on the log shard in force (it changes when the process follows a moved log). */
  readonly store: TopologyStore
  /** The topology table on any shard (where a log move copies the history to). */
  storeOf(shardId: string): TopologyStore
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
  const stores = new Map<string, TopologyStore>()
  const storeOf = (shardId: string): TopologyStore => {
    let store = stores.get(shardId)
    if (store === undefined) {
      store = new TopologyStore(participants.get(shardId)!, topologyTableOf(config.logTable), config.timeouts.recoveryMs)
      stores.set(shardId, store)
    }
    return store
  }
  const fences = new Map<string, EpochFence>()
  for (const participant of participants.values()) fences.set(participant.shardId, fenceOf(participant, fenceTableOf(config.logTable)))
  const state = new TopologyState({
    configured: routingSet(config.shards),
    logShardId: config.logShardId,
    mode: config.topology,
    storeOf,
    fences,
    createFenceTable: (shardId) => createFenceTable(participants.get(shardId)!, config.logTable, config.timeouts.recoveryMs),
    movingRing,
    logger,
  })
  return {
    get store() {
      return state.store
    },
    storeOf,
    fences,
    state,
  }
}
