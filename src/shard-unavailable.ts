import { ShardTxError, ShardUnavailableError } from './errors.js'
import type { Participant } from './protocol/participant.js'
import { describeShardError } from './shard-error-text.js'

/**
 * `error` as a {@link ShardUnavailableError} naming the shard when it means the shard
 * could not be reached (a refused, reset or timed-out connection); any other error,
 * and one already typed, unchanged.
 */
export function asUnavailable(participant: Pick<Participant, 'shardId' | 'isConnectionError'>, what: string, error: unknown): unknown {
  if (error instanceof ShardTxError || !participant.isConnectionError(error)) return error
  return new ShardUnavailableError(participant.shardId, `${what}: ${describeShardError(error)}`, error)
}
