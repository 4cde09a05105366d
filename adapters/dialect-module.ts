import type { Knex } from 'knex'
import type { Participant } from '../src/protocol/participant.js'
import type { TableShape } from '../src/resharding/table-shape.js'
import type { EpochFence } from '../src/topology/epoch-fence.js'
import type { ParticipantSettings } from './participant-settings.js'
import type { LaneStatements } from './shared/session-lane-lock.js'

/**
 * How a dialect's SQL is lexed, for the statement guard (which must find
 * transaction control statements and skip quotes and comments).
 */
export interface SqlLexRules {
  /** `# …` starts a line comment. */
  hashComments: boolean
  /** A backslash escapes the next character inside '…' and "…". */
  backslashEscapes: boolean
  /** `/*! … *\/` and `/*M! … *\/` are run by the server, so they are read as code. */
  executableComments: boolean
  /** `$tag$ … $tag$` quotes a string. */
  dollarQuotes: boolean
  /** `@var` / `@@scope.var` name variables (`SET @@autocommit`). */
  sigilVariables: boolean
  /** LOCK / UNLOCK TABLES commit implicitly, so they are refused in a branch. */
  lockTablesCommits: boolean
}

/**
 * What the rest of shardtx knows of a dialect: plain facts, no driver. Each
 * field is a place a new dialect must fill in (the compiler names the missing).
 */
export interface DialectTraits {
  /** URL schemes a connection URL may use; the first is shown in messages. */
  readonly urlProtocols: readonly string[]
  /** The driver settings for a connection URL already checked against {@link urlProtocols}. */
  connectionFromUrl(url: URL, text: string): Record<string, unknown>
  /** The driver setting a unix socket path goes into. */
  readonly socketPathSetting: string
  /** NULL sorts as the largest value (so ascending order puts it last). */
  readonly nullsSortAsLargest: boolean
  /** DDL is transactional: a failed migration run in a transaction leaves nothing behind. */
  readonly transactionalDdl: boolean
  /**
   * The session that prepared a branch owns it until it closes (MySQL XA:
   * others get 1397); PostgreSQL frees a prepared branch from its session.
   */
  readonly preparingSessionOwnsBranch: boolean
  readonly sql: SqlLexRules
}

/**
 * A dialect: its traits, the participant that speaks it to one shard, and what
 * topology changes and resharding ask of a shard in its SQL.
 */
export interface DialectModule {
  readonly traits: DialectTraits
  createParticipant(settings: ParticipantSettings): Participant
  /** The shard's topology fence as an epoch change holds and raises it (`participant` is of this dialect). */
  epochFence(participant: Participant, fenceTable: string, statementMs: number): EpochFence
  /**
   * How the lane's lock (src/contention/cluster-lane.ts), named after the log
   * table, is taken and given back in this dialect; `laneLockOf` runs them on a
   * session of its own.
   */
  laneStatements(logTable: string): LaneStatements
  /** The indexes of `table` (which exists), read on `knex`, for comparing a table's shape across shards. */
  tableIndexes(knex: Knex, table: string): Promise<TableShape['indexes']>
}
