import type { Knex } from 'knex'
import type { Participant } from '../src/protocol/participant.js'
import type { TableShape } from '../src/resharding/table-shape.js'

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
  const indexes = participant.dialect === 'postgres' ? await postgresIndexes(knex, table) : await mysqlIndexes(knex, table)
  return { columns, indexes }
}

async function postgresIndexes(knex: Knex, table: string): Promise<TableShape['indexes']> {
  const result = await knex.raw<{ rows: { primary: boolean; unique: boolean; columns: string[] }[] }>(
    `SELECT i.indisprimary AS primary, i.indisunique AS unique, array_agg(a.attname::text ORDER BY k.n) AS columns
     FROM pg_index i
     CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
     WHERE i.indrelid = to_regclass(quote_ident(?))
     GROUP BY i.indexrelid, i.indisprimary, i.indisunique`,
    [table],
  )
  return result.rows.map((r) => ({ primary: r.primary, unique: r.unique, columns: r.columns }))
}

async function mysqlIndexes(knex: Knex, table: string): Promise<TableShape['indexes']> {
  const [rows] = (await knex.raw(
    `SELECT INDEX_NAME AS name, NON_UNIQUE AS nonUnique, COLUMN_NAME AS col
     FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY INDEX_NAME, SEQ_IN_INDEX`,
    [table],
  )) as [{ name: string; nonUnique: number | string; col: string }[]]
  const byName = new Map<string, TableShape['indexes'][number]>()
  for (const row of rows) {
    let index = byName.get(row.name)
    if (index === undefined) byName.set(row.name, (index = { primary: row.name === 'PRIMARY', unique: Number(row.nonUnique) === 0, columns: [] }))
    index.columns.push(row.col)
  }
  return [...byName.values()]
}
