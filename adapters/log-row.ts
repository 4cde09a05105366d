import type { Knex } from 'knex'
import type { Decision, DecisionRecord } from '../src/participant.js'

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
  table: string,
  txIds: string[] | undefined,
  decision: Decision | undefined,
): Promise<DecisionRecord[]> {
  if (txIds !== undefined && txIds.length === 0) return []
  const query = knex.select('*').from(table)
  if (txIds !== undefined) query.whereIn('tx_id', txIds)
  if (decision !== undefined) query.where('decision', decision)
  return ((await query) as LogRow[]).map(toDecisionRecord)
}
