import { ConfigError } from '../errors.js'
import type { ShardedTable } from './move-rows.js'
import type { CursorValue, VerifyCursor, VerifyScope } from './placement-report.js'

/** A key column's value as read by the driver, for a cursor (JSON). */
export function encodeKeyValue(value: unknown): CursorValue {
  if (value instanceof Date) return { date: value.toISOString() }
  if (ArrayBuffer.isView(value)) return { bytes: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex') }
  if (typeof value === 'bigint') return { bigint: value.toString() }
  if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value
  return String(value)
}

/** {@link encodeKeyValue} undone: the value bound to the next page's `>`. */
export function decodeKeyValue(value: CursorValue): unknown {
  if (value === null || typeof value !== 'object') return value
  if ('date' in value) {
    const date = new Date(value.date)
    if (Number.isNaN(date.getTime())) throw new Error(`not a date: ${value.date}`)
    return date
  }
  if ('bytes' in value) {
    if (!/^([0-9a-f]{2})*$/.test(value.bytes)) throw new Error(`not hex: ${value.bytes}`)
    return Buffer.from(value.bytes, 'hex')
  }
  return BigInt(value.bigint)
}

/**
 * Where a cursor goes on in this run's tables and shards (indexes, and the key
 * after which to read), once it is known to come from the same cluster, tables
 * and shards; otherwise a ConfigError naming `field` and what differs.
 */
export function positionOf(
  cursor: VerifyCursor,
  scope: VerifyScope,
  tables: ShardedTable[],
  field: string,
): { table: number; shard: number; after: unknown[] | null } {
  const was = cursor.scope
  if (was.logShardId !== scope.logShardId || was.logTable !== scope.logTable) {
    throw new ConfigError(`${field}.scope`, `the cursor is of the cluster logged in ${was.logTable} on ${was.logShardId}, not ${scope.logTable} on ${scope.logShardId}`)
  }
  if (tableSet(was) !== tableSet(scope)) {
    throw new ConfigError(`${field}.scope.tables`, `the cursor was taken over the sharded tables ${tableSet(was)}; this cluster declares ${tableSet(scope) || 'none'}`)
  }
  if (was.shards.join(', ') !== scope.shards.join(', ')) {
    throw new ConfigError(
      `${field}.scope.shards`,
      `the cursor was taken reading the shards ${was.shards.join(', ')}; this process connects to ${scope.shards.join(', ')} (resume with the same connections)`,
    )
  }
  if (was.slotsPerBucket !== scope.slotsPerBucket) {
    throw new ConfigError(`${field}.scope.slotsPerBucket`, `the cursor counts ranges of ${was.slotsPerBucket} slots, this shardtx ${scope.slotsPerBucket}`)
  }
  const table = tables.findIndex((t) => t.name === cursor.table)
  if (table === -1) throw new ConfigError(`${field}.table`, `${cursor.table} is not a declared sharded table`)
  const shard = scope.shards.indexOf(cursor.shardId)
  if (shard === -1) throw new ConfigError(`${field}.shardId`, `${cursor.shardId} is not a shard of the cursor`)
  const columns = tables[table]!.keyColumns.length
  if (cursor.after !== null && cursor.after.length !== columns) {
    throw new ConfigError(`${field}.after`, `must hold one value per key column of ${cursor.table} (${columns})`)
  }
  for (const [i, { table: name }] of cursor.tally.tables.entries()) {
    if (!tables.some((t) => t.name === name)) throw new ConfigError(`${field}.tally.tables[${i}].table`, `${name} is not a declared sharded table`)
  }
  const after = cursor.after?.map((value, i) => {
    try {
      return decodeKeyValue(value)
    } catch {
      throw new ConfigError(`${field}.after[${i}]`, `${JSON.stringify(value)} is not a key value a cursor holds`)
    }
  })
  return { table, shard, after: after ?? null }
}

/** `accounts(id), orders(tenant, id)`, sorted by name. */
function tableSet(scope: VerifyScope): string {
  return scope.tables
    .map((t) => `${t.name}(${t.keyColumns.join(', ')})`)
    .sort()
    .join(', ')
}
