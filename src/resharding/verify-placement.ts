import type { ShardKey } from '../sharding/index.js'
import { xxh32String } from '../sharding/index.js'
import type { ReshardContext } from './reshard-context.js'
import { shardedTables } from './reshard-job.js'

/**
 * What `verify` found: rows on a shard that does not own their key, and per table
 * a row count and an order-free checksum of every row with its slot, to compare
 * before a job and after it was reversed or repeated.
 *
 * ```ts
 * const report = await cluster.verifyPlacement()
 * if (report.misplaced.length > 0) console.error(report.misplaced)
 * ```
 */
export interface PlacementReport {
  epoch: number
  misplaced: { table: string; shardId: string; owner: string; rows: number; example: string }[]
  tables: { table: string; rows: number; checksum: string }[]
}

/**
 * Reads every row of every declared sharded table on every shard this process
 * connects to, inside one fenced transaction (so a batch cannot commit half-way
 * through the reading), and routes each key by the topology of that transaction.
 */
export async function verifyPlacement(ctx: ReshardContext, timeoutMs: number): Promise<PlacementReport> {
  return ctx.transaction(
    async (tx) => {
      const routing = ctx.state.current
      const misplaced: PlacementReport['misplaced'] = []
      const tables: PlacementReport['tables'] = []
      for (const table of shardedTables(ctx)) {
        let rows = 0
        let checksum = 0
        for (const shardId of [...ctx.participants.keys()].sort()) {
          const knex = tx.forShard(shardId)
          if (!(await knex.schema.hasTable(table.name))) continue
          const found = (await knex(table.name).select('*')) as Record<string, unknown>[]
          const wrong = new Map<string, { rows: number; example: string }>()
          for (const row of found) {
            const key = table.keyOf(row) as ShardKey
            const slot = routing.ring.slotFor(key)
            const owner = routing.ring.slotOwner(slot)
            rows++
            checksum = (checksum + xxh32String(`${slot}\u0000${canonical(row)}`, 0)) >>> 0
            if (owner === shardId) continue
            const entry = wrong.get(owner) ?? { rows: 0, example: String(key) }
            entry.rows++
            wrong.set(owner, entry)
          }
          for (const [owner, { rows: count, example }] of wrong) misplaced.push({ table: table.name, shardId, owner, rows: count, example })
        }
        tables.push({ table: table.name, rows, checksum: checksum.toString(16).padStart(8, '0') })
      }
      return { epoch: routing.epoch, misplaced, tables }
    },
    { timeout: timeoutMs },
  )
}

/** A row as text that reads the same from either dialect for the common types (numbers as decimals, dates as ISO). */
function canonical(row: Record<string, unknown>): string {
  return Object.keys(row)
    .sort()
    .map((column) => {
      const value = row[column]
      if (value instanceof Date) return `${column}=${value.toISOString()}`
      if (ArrayBuffer.isView(value)) return `${column}=${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')}`
      if (value !== null && typeof value === 'object') return `${column}=${JSON.stringify(value)}`
      return `${column}=${String(value)}`
    })
    .join('\u0001')
}
