/** What a resharding plan needs to know of one table on one shard. */
export interface TableShape {
  /** Columns by name, with the type as the server names it (lower case) and the declared length of strings. */
  columns: { name: string; type: string; maxLength: number | null }[]
  /** Every index, its columns in order. */
  indexes: { primary: boolean; unique: boolean; columns: string[] }[]
}

/** Reads a table's shape on a shard, in its dialect; undefined when the shard has no such table. */
export type TableShapeReader = (shardId: string, table: string) => Promise<TableShape | undefined>

/**
 * The kinds of value a column type holds, as the two dialects name them. A row
 * moves between two columns when their kinds meet: MariaDB's `tinyint` is both an
 * integer and knex's boolean, its `longtext` is knex's json, its `char(36)` knex's uuid.
 */
const KINDS: [RegExp, string[]][] = [
  [/^(boolean|bool)$/, ['boolean']],
  [/^tinyint$/, ['integer', 'boolean']],
  [/^(smallint|int2|mediumint|integer|int|int4|bigint|int8|smallserial|serial|bigserial)$/, ['integer']],
  [/^(numeric|decimal)$/, ['decimal']],
  [/^(real|float|float4|float8|double precision|double)$/, ['float']],
  [/^(character varying|varchar|character|char|bpchar|text|tinytext|mediumtext|citext|name)$/, ['text', 'uuid']],
  [/^longtext$/, ['text', 'json']],
  [/^(json|jsonb)$/, ['json']],
  [/^uuid$/, ['uuid']],
  [/^(date)$/, ['date']],
  [/^(timestamp|timestamp with time zone|timestamp without time zone|timestamptz|datetime)$/, ['timestamp']],
  [/^(time|time with time zone|time without time zone|timetz)$/, ['time']],
  [/^(bytea|blob|tinyblob|mediumblob|longblob|binary|varbinary)$/, ['binary']],
  [/^enum$/, ['text']],
]

const INTEGER_BYTES: Record<string, number> = { tinyint: 1, smallint: 2, int2: 2, smallserial: 2, mediumint: 3, integer: 4, int: 4, int4: 4, serial: 4, bigint: 8, int8: 8, bigserial: 8 }

function kindsOf(type: string): string[] | undefined {
  return KINDS.find(([pattern]) => pattern.test(type))?.[1]
}

/**
 * Problems (the job is refused) and warnings (it may run) for one declared table
 * across the shards of both sets. A sharded table needs a primary key, and an index
 * that starts with its shard-key columns (a batch reads and deletes by key, 500 keys
 * per statement); every column must hold the same kind of value on every shard.
 */
export function shapeFindings(
  name: string,
  shapes: ReadonlyMap<string, TableShape>,
  keyColumns: readonly string[] | undefined,
): { problems: string[]; warnings: string[] } {
  const problems: string[] = []
  const warnings: string[] = []
  if (keyColumns !== undefined) {
    for (const [shardId, shape] of shapes) {
      if (!shape.indexes.some((i) => i.primary)) problems.push(`table ${name} on shard ${shardId} has no primary key (a batch moves rows by key)`)
      const keyed = shape.indexes.some((i) => keyColumns.every((c, n) => i.columns[n] === c))
      if (!keyed) problems.push(`table ${name} on shard ${shardId} has no index that starts with its shard key (${keyColumns.join(', ')}): every batch statement would scan the table`)
    }
  }
  const byColumn = new Map<string, { shardId: string; type: string; maxLength: number | null }[]>()
  for (const [shardId, shape] of shapes) {
    for (const column of shape.columns) {
      const list = byColumn.get(column.name) ?? []
      const type = column.type.toLowerCase()
      // A uuid is 36 characters as text, what MariaDB's char(36) holds.
      list.push({ shardId, type, maxLength: type === 'uuid' ? 36 : column.maxLength })
      byColumn.set(column.name, list)
    }
  }
  for (const [column, seen] of byColumn) {
    const types = new Map(seen.map((s) => [s.type, s]))
    if (types.size > 1) {
      const kinds = [...types.keys()].map(kindsOf)
      const describe = (): string => seen.map((s) => `${s.type} on ${s.shardId}`).join(', ')
      if (kinds.some((k) => k === undefined)) {
        problems.push(`column ${name}.${column} has types that are not known to map between the dialects: ${describe()}`)
        continue
      }
      const common = kinds[0]!.filter((k) => kinds.every((other) => other!.includes(k)))
      if (common.length === 0) {
        problems.push(`column ${name}.${column} holds different kinds of value on different shards: ${describe()}`)
        continue
      }
      const widths = new Set([...types.keys()].map((t) => INTEGER_BYTES[t]).filter((w) => w !== undefined))
      if (common.includes('integer') && widths.size > 1) warnings.push(`column ${name}.${column} has integers of different widths (${describe()}): a large value cannot move to the narrower one`)
    }
    // Lengths from 16 MiB up (MariaDB's mediumtext, longtext) are as good as unlimited here.
    const lengths = new Set(seen.map((s) => (s.maxLength === null || s.maxLength >= 16_777_215 ? null : s.maxLength)))
    if (lengths.size > 1) {
      warnings.push(`column ${name}.${column} has different lengths (${seen.map((s) => `${s.maxLength ?? 'unlimited'} on ${s.shardId}`).join(', ')}): a longer value cannot move to the shorter one`)
    }
  }
  return { problems, warnings }
}
