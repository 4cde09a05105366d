import type { Knex } from 'knex'
import type { TableShape } from '../../src/resharding/table-shape.js'

/** The indexes of `table` from the catalog, key columns in index order. */
export async function postgresIndexes(knex: Knex, table: string): Promise<TableShape['indexes']> {
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
