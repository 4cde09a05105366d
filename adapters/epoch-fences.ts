import type { Participant } from '../src/protocol/participant.js'
import type { EpochFence } from '../src/topology/epoch-fence.js'
import { MysqlEpochFence } from './mysql/mysql-fence.js'
import { PostgresEpochFence } from './postgres/postgres-fence.js'

/** The fence of `participant`'s shard, as an epoch change uses it, in the shard's own dialect. */
export function epochFenceOf(participant: Participant, fenceTable: string): EpochFence {
  return participant.dialect === 'postgres'
    ? new PostgresEpochFence(participant.knex, fenceTable, participant.shardId)
    : new MysqlEpochFence(participant.knex, fenceTable, participant.shardId, () => participant.listPrepared())
}
