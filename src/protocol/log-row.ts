import type { Knex } from 'knex'
import type { Decision, DecisionRecord, DriverConnection } from './participant.js'

/** A row of the log table as both drivers return it. */
export interface LogRow {
  tx_id: string
  decision: Decision
  /** Comma-separated shard ids (ids are validated never to contain a comma). */
  participants: string
  /** BIGINT arrives as a string from pg and as a number or string from mysql2. */
  created_at: string | number
}

export function toDecisionRecord(row: LogRow): DecisionRecord {
  return {
    txId: row.tx_id,
    decision: row.decision,
    participants: row.participants === '' ? [] : row.participants.split(','),
    createdAt: Number(row.created_at),
  }
}

/** Reads log records, of some transactions and one decision when asked; the query is the same in every dialect. */
export async function readLogRecords(
  knex: Knex,
  conn: DriverConnection,
  table: string,
  txIds: string[] | undefined,
  decision: Decision | undefined,
): Promise<DecisionRecord[]> {
  if (txIds !== undefined && txIds.length === 0) return []
  const query = knex.select('*').from(table).connection(conn)
  if (txIds !== undefined) query.whereIn('tx_id', txIds)
  if (decision !== undefined) query.where('decision', decision)
  return ((await query) as LogRow[]).map(toDecisionRecord)
}

/** Deletes the named records that hold `decision`; the statement is the same in every dialect. */
export async function deleteLogRecords(knex: Knex, conn: DriverConnection, table: string, txIds: string[], decision: Decision): Promise<number> {
  if (txIds.length === 0) return 0
  return knex(table).connection(conn).whereIn('tx_id', txIds).where('decision', decision).del()
}

/** Deletes abort records written before `before` (ms since epoch). */
export async function deleteAbortsBefore(knex: Knex, conn: DriverConnection, table: string, before: number): Promise<number> {
  return knex(table).connection(conn).where('decision', 'abort').where('created_at', '<', before).del()
}

/** A transaction to fence: its id and the shards its record lists. */
export interface FenceRequest {
  txId: string
  participants: string[]
}

/** Rows per fencing statement (PostgreSQL allows 65 535 bind parameters, three per row). */
const FENCE_CHUNK = 500

/**
 * The fence both dialects share. `insertAndRead` inserts abort records for a chunk
 * of requests, leaving existing records alone, and returns the decisions stored for
 * them afterwards; it returns nothing for the chunk when its server asked to try
 * again (a lock wait ended by timeout or deadlock), which decides nothing. A request
 * without a record afterwards lost it between the two statements (forgotten or
 * expired) and is fenced again. Requests go in tx id order, so two recoverers
 * fencing overlapping sets lock their keys in the same order and never deadlock.
 */
export async function fenceInChunks(
  requests: FenceRequest[],
  insertAndRead: (chunk: FenceRequest[]) => Promise<Map<string, Decision>>,
): Promise<Map<string, Decision>> {
  const decided = new Map<string, Decision>()
  let pending = [...new Map(requests.map((r) => [r.txId, r])).values()].sort((a, b) => (a.txId < b.txId ? -1 : a.txId > b.txId ? 1 : 0))
  while (pending.length > 0) {
    for (let start = 0; start < pending.length; start += FENCE_CHUNK) {
      for (const [txId, decision] of await insertAndRead(pending.slice(start, start + FENCE_CHUNK))) decided.set(txId, decision)
    }
    pending = pending.filter((r) => !decided.has(r.txId))
  }
  return decided
}

/** The log table's columns, in the order every INSERT lists them. */
export const LOG_COLUMNS = 'tx_id, decision, participants, created_at'

/** A record's values in {@link LOG_COLUMNS} order. */
export function logRowValues(record: DecisionRecord): [string, Decision, string, number] {
  return [record.txId, record.decision, record.participants.join(','), record.createdAt]
}
