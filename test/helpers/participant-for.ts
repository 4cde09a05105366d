import { createParticipant } from '../../adapters/index.js'
import { resolveClusterOptions } from '../../src/config/cluster-options.js'
import type { ShardConfig } from '../../src/index.js'
import { silentLogger } from '../../src/logger.js'
import type { Participant } from '../../src/protocol/participant.js'
import type { ParticipantSettings } from '../../adapters/participant-settings.js'

/** The library's own participant for `shard`, outside any cluster, for tests of one role; `pool` settings override the defaults. */
export function participantFor(
  shard: ShardConfig,
  prefix: string,
  logTable?: string,
  pool?: Partial<Pick<ParticipantSettings, 'pool' | 'acquireTimeoutMs'>>,
): Participant {
  const config = resolveClusterOptions({ shards: [shard], prefix, ...(logTable === undefined ? {} : { logTable }) })
  const resolved = config.shards[0]!
  return createParticipant(resolved.dialect, {
    shardId: resolved.id,
    prefix,
    logTable: config.logTable,
    connection: resolved.connection,
    pool: { max: 4 },
    acquireTimeoutMs: 10_000,
    connectTimeoutMs: config.connectTimeoutMs,
    keepAliveDelayMs: config.keepAliveDelayMs,
    timeouts: config.timeouts,
    logger: silentLogger,
    ...pool,
  })
}
