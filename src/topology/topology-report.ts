import { describeShardError } from '../shard-error-text.js'
import type { EpochFence } from './epoch-fence.js'
import type { TopologyState } from './topology-state.js'
import type { Topology } from './topology.js'

/**
 * The stored topology as `cluster.topology()` reports it: what processes route
 * by, a change claimed but not published (a change that stopped half-way), and
 * the epoch each shard's fence holds.
 *
 * ```ts
 * const { epoch, shards, pending, fences } = await cluster.topology()
 * ```
 */
export interface TopologyReport extends Topology {
  pending: Topology | undefined
  /** One entry per shard this process connects to; `epoch` undefined when the shard has no fence row, `error` when it could not be read. */
  fences: { shardId: string; epoch: number | undefined; error?: string }[]
}

export async function readTopologyReport(state: TopologyState, fences: ReadonlyMap<string, EpochFence>): Promise<TopologyReport> {
  const { topology } = await state.reload()
  // The store after the load: the load may have followed a moved log.
  const pending = await state.store.pending(topology.epoch)
  const rows = await Promise.all(
    [...fences.values()].map(async (fence) => {
      try {
        return { shardId: fence.shardId, epoch: (await fence.read())?.epoch }
      } catch (error) {
        return { shardId: fence.shardId, epoch: undefined, error: describeShardError(error) }
      }
    }),
  )
  return { ...topology, pending, fences: rows }
}
