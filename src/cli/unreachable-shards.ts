import type { Cluster } from '../cluster.js'
import { describeShardError } from '../shard-error-text.js'

const PROBE_TIMEOUT_MS = 5_000

/**
 * The shards among `shardIds` that do not answer `select 1` (valid SQL on both
 * dialects), with the driver's reason. The CLI asks only after something failed,
 * to tell "a shard is down" (exit 3) from "the operation failed" (exit 1).
 */
export async function unreachableShards(cluster: Cluster, shardIds: readonly string[]): Promise<{ shardId: string; error: string }[]> {
  const results = await Promise.all(
    [...new Set(shardIds)].map(async (shardId) => {
      try {
        // Bounded: a shard that stopped answering is as down as one that refuses connections.
        await cluster.forShard(shardId).raw('select 1').timeout(PROBE_TIMEOUT_MS)
        return undefined
      } catch (error) {
        return { shardId, error: describeShardError(error) }
      }
    }),
  )
  return results.filter((r) => r !== undefined)
}
