import { ConfigError } from '../errors.js'
import { asUnavailable } from '../shard-unavailable.js'
import type { Participant } from '../protocol/participant.js'
import { ringFor } from '../sharding/ring-cache.js'
import { diffRings, type ShardKey } from '../sharding/index.js'
import type { TopologyShard } from '../topology/topology.js'
import { planBatches, type ReshardBatch, type SlotRowCounts } from './reshard-plan.js'
import type { ShardedTable } from './move-rows.js'
import { shapeFindings, type TableShape } from './table-shape.js'
import type { Knex } from 'knex'
import { withBoundedKnex } from '../protocol/with-bounded-knex.js'

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
  /** What may go wrong for some rows (a narrower column somewhere); the job may run. */
  warnings: string[]
}

/** How a plan reads the shards: statements bounded by `statementMs`, table shapes in each shard's dialect. */
export interface PlanReads {
  participants: ReadonlyMap<string, Participant>
  statementMs: number
  shapeOf(participant: Participant, knex: Knex, table: string): Promise<TableShape | undefined>
}

/**
 * Counts the moving rows (reading every key of every declared sharded table on the
 * shards that lose slots), splits them into batches, and checks the prerequisites.
 * Every statement is bounded by `reads.statementMs`: a shard that stops answering
 * is a ShardUnresponsiveError naming it, not a plan that never returns.
 */
export async function planReshard(
  reads: PlanReads,
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
    const perSlot = new Map<number, number>()
    counts.set(shardId, perSlot)
    await onBounded(reads, shardId, async (participant, knex) => {
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
    })
  }
  const { problems, warnings } = await checkPrerequisites(reads, tables, referenceTables, [...new Set([...fromIds, ...toIds])].sort())
  return {
    from: [...from],
    to: [...to],
    slotsMoving: moves.length,
    rows: [...rows.values()].sort((a, b) => (a.table + a.from + a.to < b.table + b.from + b.to ? -1 : 1)),
    batches: planBatches(moves, counts as ReadonlyMap<string, SlotRowCounts>, batchSize),
    added: [...toIds].filter((id) => !fromIds.has(id)).sort(),
    removed: [...fromIds].filter((id) => !toIds.has(id)).sort(),
    problems,
    warnings,
  }
}

/** Runs `read` on a bounded knex of its own for `shardId`, destroyed after. */
async function onBounded<T>(reads: PlanReads, shardId: string, read: (participant: Participant, knex: Knex) => Promise<T>): Promise<T> {
  const participant = reads.participants.get(shardId)!
  return withBoundedKnex(participant, reads.statementMs, (knex) => read(participant, knex))
}

/** The key columns of every row of `table` on one shard (undefined when the shard has no such table). */
async function readKeys(participant: Participant, knex: Knex, table: ShardedTable): Promise<Record<string, unknown>[] | undefined> {
  try {
    if (!(await knex.schema.hasTable(table.name))) return undefined
    return (await knex(table.name).select([...table.keyColumns])) as Record<string, unknown>[]
  } catch (error) {
    throw asUnavailable(participant, `could not count the rows of ${table.name}`, error)
  }
}

/**
 * Every declared table exists on every shard of both sets with the same columns;
 * a sharded table has a primary key and an index that starts with its shard key;
 * each column holds the same kind of value in every shard's dialect (table-shape.ts).
 * A batch copies rows column by column, across dialects too.
 */
async function checkPrerequisites(
  reads: PlanReads,
  tables: ShardedTable[],
  referenceTables: string[],
  shardIds: string[],
): Promise<{ problems: string[]; warnings: string[] }> {
  const names = [...tables.map((t) => t.name), ...referenceTables]
  // Every table's shape on one shard over one bounded knex: one pool per shard, not per table.
  const shapesOn = new Map<string, Map<string, TableShape | undefined>>()
  for (const id of shardIds) {
    shapesOn.set(
      id,
      await onBounded(reads, id, async (participant, knex) => {
        const found = new Map<string, TableShape | undefined>()
        for (const name of names) {
          try {
            found.set(name, await reads.shapeOf(participant, knex, name))
          } catch (error) {
            throw asUnavailable(participant, `could not read the columns of ${name}`, error)
          }
        }
        return found
      }),
    )
  }
  const problems: string[] = []
  const warnings: string[] = []
  for (const name of names) {
    const table = tables.find((t) => t.name === name)
    const shapes = new Map<string, TableShape>()
    for (const id of shardIds) {
      const shape = shapesOn.get(id)!.get(name)
      if (shape === undefined) {
        problems.push(`table ${name} does not exist on shard ${id} (run your migrations there first: cluster.migrateShards())`)
        continue
      }
      shapes.set(id, shape)
      for (const key of table?.keyColumns ?? []) {
        if (!shape.columns.some((c) => c.name === key)) problems.push(`table ${name} on shard ${id} has no key column ${key}`)
      }
    }
    const columnSets = new Map([...shapes].map(([id, shape]) => [id, shape.columns.map((c) => c.name).join(', ')]))
    if (new Set(columnSets.values()).size > 1) {
      problems.push(`table ${name} has different columns on different shards: ${[...columnSets].map(([id, c]) => `${id} (${c})`).join('; ')}`)
      continue
    }
    const found = shapeFindings(name, shapes, table?.keyColumns)
    problems.push(...found.problems)
    warnings.push(...found.warnings)
  }
  return { problems, warnings }
}

export function refuseProblems(problems: string[]): void {
  if (problems.length > 0) throw new ConfigError('reshard', `cannot start: ${problems.join('; ')}`)
}
