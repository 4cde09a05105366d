import type { Cluster } from '../cluster.js'
import { ConfigError, ShardTxError } from '../errors.js'
import { CliUsageError, ShardsUnreachableError } from './cli-errors.js'
import { ExitCode } from './exit-codes.js'
import { unreachableShards } from './unreachable-shards.js'

/** Library error codes that mean the user asked for something impossible, not that it failed. */
const USAGE_CODES = ['CONFIG', 'USAGE', 'INVALID_ARGUMENT', 'INVALID_KEY']

/**
 * The exit code an error means: 2 for usage and config mistakes, 3 for
 * unreachable shards, 1 for everything else.
 */
export function exitCodeOf(error: unknown): ExitCode {
  if (error instanceof CliUsageError || error instanceof ConfigError) return ExitCode.Usage
  if (error instanceof ShardsUnreachableError) return ExitCode.Unreachable
  if (error instanceof ShardTxError && USAGE_CODES.includes(error.code)) return ExitCode.Usage
  return ExitCode.Failed
}

/**
 * Rethrows an operation's error as {@link ShardsUnreachableError} when some of
 * `shardIds` do not answer any more, else as it is: a failure that a shard's
 * absence explains exits with 3, not 1.
 */
export async function rethrowExplained(cluster: Cluster, shardIds: readonly string[], error: unknown): Promise<never> {
  if (exitCodeOf(error) === ExitCode.Failed) {
    const down = await unreachableShards(cluster, shardIds)
    if (down.length > 0) throw new ShardsUnreachableError(down, error)
  }
  throw error
}
