import type { Knex } from 'knex'
import type { TableShape } from '../../src/resharding/table-shape.js'

/** The indexes of `table` in the current database from information_schema.STATISTICS, key columns in index order. */
export async function mysqlIndexes(knex: Knex, table: string): Promise<TableShape['indexes']> {
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
