import type { Dialect } from '../src/config/shard-config.js'
import type { Participant } from '../src/protocol/participant.js'
import { MysqlParticipant } from './mysql/mysql-participant.js'
import type { ParticipantSettings } from './participant-settings.js'
import { PostgresParticipant } from './postgres/postgres-participant.js'

export type { ParticipantSettings } from './participant-settings.js'

/** Makes the participant that speaks `dialect` for one shard. */
export function createParticipant(dialect: Dialect, settings: ParticipantSettings): Participant {
  return dialect === 'postgres' ? new PostgresParticipant(settings) : new MysqlParticipant(settings)
}
