import type { Knex } from 'knex'
import type { Participant } from '../src/protocol/participant.js'
import type { TableShape } from '../src/resharding/table-shape.js'
import { DIALECTS } from './index.js'

/**
 * The columns and indexes of `table` on `participant`'s shard, read on `knex`
 * (bounded by its caller), in the shard's own dialect; undefined without the table.
 */
export async function tableShapeOf(participant: Participant, knex: Knex, table: string): Promise<TableShape | undefined> {
  if (!(await knex.schema.hasTable(table))) return undefined
  const info = (await knex(table).columnInfo()) as unknown as Record<string, { type: string; maxLength: number | string | null }>
  const columns = Object.entries(info)
    .map(([name, c]) => ({ name, type: String(c.type).toLowerCase(), maxLength: c.maxLength === null ? null : Number(c.maxLength) }))
    .sort((a, b) => (a.name < b.name ? -1 : 1))
  const indexes = await DIALECTS[participant.dialect].tableIndexes(knex, table)
  return { columns, indexes }
}
