import type { Dialect } from '../src/config/shard-config.js'
import type { LaneLock } from '../src/contention/lane-lock.js'
import type { Participant } from '../src/protocol/participant.js'
import type { EpochFence } from '../src/topology/epoch-fence.js'
import type { DialectModule, DialectTraits } from './dialect-module.js'
import { MysqlParticipant } from './mysql/mysql-participant.js'
import { MysqlEpochFence } from './mysql/mysql-fence.js'
import { mysqlLaneStatements } from './mysql/mysql-lane.js'
import { mysqlIndexes } from './mysql/mysql-table-indexes.js'
import { mysqlTraits } from './mysql/mysql-traits.js'
import type { ParticipantSettings } from './participant-settings.js'
import { SessionLaneLock } from './shared/session-lane-lock.js'
import { PostgresParticipant } from './postgres/postgres-participant.js'
import { PostgresEpochFence } from './postgres/postgres-fence.js'
import { postgresLaneStatements } from './postgres/postgres-lane.js'
import { postgresIndexes } from './postgres/postgres-table-indexes.js'
import { postgresTraits } from './postgres/postgres-traits.js'

export type { DialectModule, DialectTraits, SqlLexRules } from './dialect-module.js'
export type { ParticipantSettings } from './participant-settings.js'

/**
 * Every dialect shardtx speaks. adapters/<dialect>/ is the only code that knows
 * a driver or a dialect's SQL; the rest asks this registry. Adding a dialect is
 * a new folder, its name in the `Dialect` union and one line here.
 */
export const DIALECTS: Record<Dialect, DialectModule> = {
  postgres: {
    traits: postgresTraits,
    createParticipant: (settings) => new PostgresParticipant(settings),
    epochFence: (participant, table, statementMs) => new PostgresEpochFence(participant, table, statementMs),
    laneStatements: postgresLaneStatements,
    tableIndexes: postgresIndexes,
  },
  mysql: {
    traits: mysqlTraits,
    createParticipant: (settings) => new MysqlParticipant(settings),
    epochFence: (participant, table, statementMs) => new MysqlEpochFence(participant, table, statementMs),
    laneStatements: mysqlLaneStatements,
    tableIndexes: mysqlIndexes,
  },
}

/** True when `name` is a dialect of the registry. */
export function isDialect(name: unknown): name is Dialect {
  return typeof name === 'string' && Object.hasOwn(DIALECTS, name)
}

/** The facts of `dialect`. */
export function traitsOf(dialect: Dialect): DialectTraits {
  return DIALECTS[dialect].traits
}

/** Makes the participant that speaks `dialect` for one shard. */
export function createParticipant(dialect: Dialect, settings: ParticipantSettings): Participant {
  return DIALECTS[dialect].createParticipant(settings)
}

/** The fence of `participant`'s shard, as an epoch change uses it, in the shard's own dialect. */
export function epochFenceOf(participant: Participant, fenceTable: string, statementMs: number): EpochFence {
  return DIALECTS[participant.dialect].epochFence(participant, fenceTable, statementMs)
}

/**
 * The lane's lock on `participant`'s shard (the log shard), in its dialect, waited
 * for at most `maxWaitMs` per acquire, on a session of its own outside the pool.
 */
export function laneLockOf(participant: Participant, logTable: string, maxWaitMs: number, statementMs: number): LaneLock {
  return new SessionLaneLock(participant, DIALECTS[participant.dialect].laneStatements(logTable), maxWaitMs, statementMs)
}

/** The registry's dialect names for messages: `'postgres' or 'mysql'`. */
export function dialectNames(): string {
  const names = Object.keys(DIALECTS).map((name) => `'${name}'`)
  return names.length === 1 ? names[0]! : `${names.slice(0, -1).join(', ')} or ${names.at(-1)}`
}
