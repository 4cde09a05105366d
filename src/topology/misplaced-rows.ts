import type { Participant } from '../protocol/participant.js'
import type { ShardKey, ShardRing } from '../sharding/index.js'
import type { ResolvedTable, ResolvedTables } from '../sharded-tables/table-declaration.js'
import { withBoundedKnex } from '../protocol/with-bounded-knex.js'

/**
 * Rows of one declared sharded table that sit on a shard the new ring no longer
 * routes them to.
 *
 * ```ts
 * const found: StrandedRows = { table: 'accounts', shardId: 'pg-0', rows: 3, example: '42' }
 * ```
 */
export interface StrandedRows {
  table: string
  shardId: string
  rows: number
  example: string
}

/**
 * Until resharding moves rows, a topology change may only move slots that hold
 * none. This finds the rows it would strand: for every declared sharded table, on
 * every shard that loses slots (a removed shard loses them all), it reads the key
 * columns of every row and routes each key by the new ring. Neither engine can
 * compute the ring's hash, so the scan reads keys into this process: it is meant
 * for tables that are empty, or nearly, in the moving slots.
 */
export async function findMisplacedRows(
  tables: ResolvedTables,
  losing: readonly Participant[],
  next: ShardRing,
  statementMs: number,
): Promise<StrandedRows[]> {
  const sharded = [...tables.values()].filter((t): t is Extract<ResolvedTable, { kind: 'sharded' }> => t.kind === 'sharded')
  // By table, then by shard, as reported; read shard by shard, every table over one
  // bounded knex: one pool and connection per shard, not one per table.
  const found: (StrandedRows | undefined)[][] = sharded.map(() => [])
  for (const [s, participant] of losing.entries()) {
    await withBoundedKnex(participant, statementMs, async (knex) => {
      for (const [t, table] of sharded.entries()) {
        if (!(await knex.schema.hasTable(table.name))) continue
        const rows = (await knex(table.name).select([...table.keyColumns])) as Record<string, unknown>[]
        let count = 0
        let example = ''
        for (const row of rows) {
          const key = table.keyOf(row) as ShardKey
          if (next.shardFor(key) === participant.shardId) continue
          if (count++ === 0) example = String(key)
        }
        if (count > 0) found[t]![s] = { table: table.name, shardId: participant.shardId, rows: count, example }
      }
    })
  }
  return found.flat().filter((f): f is StrandedRows => f !== undefined)
}
