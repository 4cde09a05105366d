import { ConfigError } from '../errors.js'
import { asUnavailable } from '../shard-unavailable.js'
import type { Participant } from '../protocol/participant.js'
import { ringFor } from '../sharding/ring-cache.js'
import { diffRings, type ShardKey } from '../sharding/index.js'
import type { TopologyShard } from '../topology/topology.js'
import { planBatches, type ReshardBatch, type SlotRowCounts } from './reshard-plan.js'
import type { ShardedTable } from './move-rows.js'

/**
 * What a job would do, computed without writing anything (`shardtx reshard plan`).
 *
 * ```ts
 * const plan = await cluster.reshardPlan(next)
 * console.log(plan.slotsMoving, plan.rows, plan.batches.length, plan.problems)
 * ```
 */
export interface ReshardPlanReport {
  from: TopologyShard[]
  to: TopologyShard[]
  /** Slots that change owner. */
  slotsMoving: number
  /** Rows to move, per table and source shard, as counted now. */
  rows: { table: string; from: string; to: string; rows: number }[]
  batches: ReshardBatch[]
  /** Shards that get reference tables copied before they take any slot. */
  added: string[]
  removed: string[]
  /** Prerequisites that fail; a job is refused while any is listed. */
  problems: string[]
}

/** Counts the moving rows (reading every key of every declared sharded table on the shards that lose slots) and splits them into batches. */
export async function planReshard(
  participants: ReadonlyMap<string, Participant>,
  tables: ShardedTable[],
  referenceTables: string[],
  from: readonly TopologyShard[],
  to: readonly TopologyShard[],
  batchSize: number,
): Promise<ReshardPlanReport> {
  const before = ringFor(from)
  const after = ringFor(to)
  const fromIds = new Set(from.map((s) => s.id))
  const toIds = new Set(to.map((s) => s.id))
  const moves = diffRings(before, after)
  const losing = new Set(moves.map((m) => m.from))
  const counts = new Map<string, Map<number, number>>()
  const rows = new Map<string, { table: string; from: string; to: string; rows: number }>()
  for (const shardId of [...losing].sort()) {
    const participant = participants.get(shardId)!
    const knex = participant.knex
    const perSlot = new Map<number, number>()
    counts.set(shardId, perSlot)
    for (const table of tables) {
      const keys = await readKeys(participant, knex, table)
      if (keys === undefined) continue
      for (const row of keys) {
        const key = table.keyOf(row) as ShardKey
        const slot = before.slotFor(key)
        const target = after.slotOwner(slot)
        if (target === shardId) continue
        perSlot.set(slot, (perSlot.get(slot) ?? 0) + 1)
        const id = `${table.name}\u0000${shardId}\u0000${target}`
        const entry = rows.get(id) ?? { table: table.name, from: shardId, to: target, rows: 0 }
        entry.rows++
        rows.set(id, entry)
      }
    }
  }
  const problems = await checkPrerequisites(participants, tables, referenceTables, [...new Set([...fromIds, ...toIds])].sort())
  return {
    from: [...from],
    to: [...to],
    slotsMoving: moves.length,
    rows: [...rows.values()].sort((a, b) => (a.table + a.from + a.to < b.table + b.from + b.to ? -1 : 1)),
    batches: planBatches(moves, counts as ReadonlyMap<string, SlotRowCounts>, batchSize),
    added: [...toIds].filter((id) => !fromIds.has(id)).sort(),
    removed: [...fromIds].filter((id) => !toIds.has(id)).sort(),
    problems,
  }
}

/** The key columns of every row of `table` on one shard (undefined when the shard has no such table). */
async function readKeys(participant: Participant, knex: Participant['knex'], table: ShardedTable): Promise<Record<string, unknown>[] | undefined> {
  try {
    if (!(await knex.schema.hasTable(table.name))) return undefined
    return (await knex(table.name).select([...table.keyColumns])) as Record<string, unknown>[]
  } catch (error) {
    throw asUnavailable(participant, `could not count the rows of ${table.name}`, error)
  }
}

/**
 * Every declared table exists on every shard of both sets with the same columns,
 * and a sharded table's key columns among them: a batch copies rows column by
 * column, across dialects too.
 */
async function checkPrerequisites(
  participants: ReadonlyMap<string, Participant>,
  tables: ShardedTable[],
  referenceTables: string[],
  shardIds: string[],
): Promise<string[]> {
  const problems: string[] = []
  for (const name of [...tables.map((t) => t.name), ...referenceTables]) {
    const columnsByShard = new Map<string, string>()
    for (const id of shardIds) {
      const participant = participants.get(id)!
      const columns = await columnsOf(participant, name)
      if (columns === undefined) {
        problems.push(`table ${name} does not exist on shard ${id} (run your migrations there first: cluster.migrateShards())`)
        continue
      }
      columnsByShard.set(id, columns.join(', '))
      const table = tables.find((t) => t.name === name)
      for (const key of table?.keyColumns ?? []) {
        if (!columns.includes(key)) problems.push(`table ${name} on shard ${id} has no key column ${key}`)
      }
    }
    const shapes = new Set(columnsByShard.values())
    if (shapes.size > 1) {
      problems.push(`table ${name} has different columns on different shards: ${[...columnsByShard].map(([id, c]) => `${id} (${c})`).join('; ')}`)
    }
  }
  return problems
}

async function columnsOf(participant: Participant, name: string): Promise<string[] | undefined> {
  try {
    if (!(await participant.knex.schema.hasTable(name))) return undefined
    return Object.keys(await participant.knex(name).columnInfo()).sort()
  } catch (error) {
    throw asUnavailable(participant, `could not read the columns of ${name}`, error)
  }
}

export function refuseProblems(problems: string[]): void {
  if (problems.length > 0) throw new ConfigError('reshard', `cannot start: ${problems.join('; ')}`)
}
