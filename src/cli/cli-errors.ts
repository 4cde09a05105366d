import { ShardTxError } from '../errors.js'

/**
 * The command line is wrong: unknown command or flag, missing or extra arguments,
 * no config file. The CLI prints the message without a stack and exits with 2.
 */
export class CliUsageError extends ShardTxError {
  constructor(message: string, cause?: unknown) {
    super(message, { code: 'USAGE', cause })
  }
}

/**
 * Shards did not answer `select 1`: the CLI exits with 3 after saying which.
 */
export class ShardsUnreachableError extends ShardTxError {
  readonly shards: { shardId: string; error: string }[]

  constructor(shards: { shardId: string; error: string }[], cause?: unknown) {
    super(`unreachable: ${shards.map((s) => `${s.shardId} (${s.error})`).join('; ')}`, { code: 'SHARD_UNAVAILABLE', cause })
    this.shards = shards
  }
}
