import type { Cluster } from '../cluster.js'
import type { ShardConfig } from '../config/shard-config.js'
import { ConfigError } from '../errors.js'
import type { TopologyTarget } from '../topology/set-topology.js'
import type { CommandContext } from './command-context.js'
import { loadConfig } from './load-config.js'

/**
 * The shard set of `--to <config>` (ids, dialects, weights) and a cluster with a
 * connection for every shard of `--config` and `--to`: a topology change or a
 * resharding job touches the shards of both sets. The `--to` config's secrets are
 * learned before anything can print them.
 */
export interface TargetCluster {
  cluster: Cluster
  target: TopologyTarget
  close(): Promise<void>
}

/**
 * Opens the cluster over the union of the two configs, with the CLI's options
 * (`--config`'s, following the stored topology). Without `--to` it is the
 * command's own cluster and `target` is empty.
 */
export async function openTargetCluster({ cluster, options, args, out, cwd }: CommandContext): Promise<TargetCluster> {
  if (args.to === undefined) return { cluster, target: [], close: async () => {} }
  const loaded = (await loadConfig(args.to, cwd)).options
  out.redactor.learn(loaded)
  const shards = (loaded as { shards?: unknown } | null)?.shards
  if (!Array.isArray(shards) || shards.length === 0) throw new ConfigError('--to', 'must be a config with a shards list')
  shards.forEach((shard: unknown, i) => {
    if (typeof (shard as { id?: unknown } | null)?.id !== 'string') throw new ConfigError(`--to shards[${i}].id`, 'must be a string')
  })
  const targetShards = shards as ShardConfig[]
  const known = new Set(options.shards.map((s) => s.id))
  const union: ShardConfig[] = [...options.shards, ...targetShards.filter((s) => !known.has(s.id))]
  const { createCluster } = await import('../cluster.js')
  const opened = createCluster({ ...options, shards: union })
  return {
    cluster: opened,
    target: targetShards.map((s) => ({ id: s.id, dialect: s.dialect, ...(s.weight === undefined ? {} : { weight: s.weight }) })),
    close: () => opened.close().catch(() => {}),
  }
}
