import { plainObject, requiredIntegerAtLeast, stringArray } from '../config/validate.js'
import { ConfigError } from '../errors.js'
import { BUCKET_COUNT, type PlacementReport, type VerifyCursor } from './placement-report.js'

/*
 * Reports and cursors come back from JSON (a file the CLI saved, a cursor an
 * application kept): each reader checks the shape and throws a ConfigError naming
 * the first field that is wrong, e.g. `--against placement.tables[0].checksum`.
 */

/** Checks one field's value, throwing a ConfigError naming `field`. */
type Check = (field: string, value: unknown) => unknown

/** `value` when it is a {@link PlacementReport} (a bare one, or the CLI's `{ placement }` document). */
export function placementReportFrom(value: unknown, field: string): PlacementReport {
  const document = plainObject(field, value)
  if ('placement' in document) return placementReportFrom(document.placement, `${field} placement`)
  shape(field, document, {
    complete: boolean,
    comparable: boolean,
    reason: optional(text),
    epoch: count,
    epochs: listOf(count),
    pages: count,
    slotsPerBucket: atLeastOne,
    misplaced: listOf(misplacedRows),
    tables: listOf(tablePlacement),
    cursor: optional((f, v) => verifyCursorFrom(v, f)),
  })
  if (document.complete === (document.cursor !== undefined)) throw new ConfigError(`${field}.cursor`, 'an incomplete report has a cursor, a complete one none')
  return document as unknown as PlacementReport
}

/** `value` when it is a {@link VerifyCursor}; whether it fits this cluster is checked when it resumes. */
export function verifyCursorFrom(value: unknown, field: string): VerifyCursor {
  const cursor = plainObject(field, value, 'report.cursor')
  if (cursor.version !== 1) throw new ConfigError(`${field}.version`, `must be 1 (a cursor of this shardtx), got ${JSON.stringify(cursor.version)}`)
  shape(field, cursor, { scope, table: text, shardId: text, after: nullOr(listOf(cursorValue)), tally })
  return cursor as unknown as VerifyCursor
}

const misplacedRows: Check = (field, value) => shape(field, value, { table: text, shardId: text, owner: text, rows: count, example: text })

const slotRange: Check = (field, value) => shape(field, value, { first: count, last: count, rows: count, checksum })

const tablePlacement: Check = (field, value) => shape(field, value, { table: text, rows: count, checksum, buckets: listOf(slotRange) })

const scope: Check = (field, value) =>
  shape(field, value, {
    logShardId: text,
    logTable: text,
    shards: stringArray,
    tables: listOf((f, v) => shape(f, v, { name: text, keyColumns: stringArray })),
    slotsPerBucket: atLeastOne,
  })

/** `[range index, rows, checksum as uint32]` */
const bucketTally: Check = (field, value) => {
  if (!Array.isArray(value) || value.length !== 3) throw new ConfigError(field, 'must be [range, rows, checksum]')
  const [bucket, rows, sum] = value as unknown[]
  if (!(Number.isInteger(bucket) && (bucket as number) >= 0 && (bucket as number) < BUCKET_COUNT)) {
    throw new ConfigError(`${field}[0]`, `must be a range index in [0, ${BUCKET_COUNT})`)
  }
  count(`${field}[1]`, rows)
  if (!(Number.isInteger(sum) && (sum as number) >= 0 && (sum as number) <= 0xffffffff)) throw new ConfigError(`${field}[2]`, 'must be a checksum in [0, 2^32)')
}

const tally: Check = (field, value) =>
  shape(field, value, {
    pages: count,
    epochs: listOf(count),
    misplaced: listOf(misplacedRows),
    tables: listOf((f, v) => shape(f, v, { table: text, buckets: listOf(bucketTally) })),
  })

const cursorValue: Check = (field, value) => {
  if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) return
  const tagged = plainObject(field, value)
  const [tag, ...more] = Object.keys(tagged)
  if (more.length > 0 || !['date', 'bytes', 'bigint'].includes(tag ?? '') || typeof tagged[tag!] !== 'string') {
    throw new ConfigError(field, 'must be a string, number, boolean, null, or { date | bytes | bigint: string }')
  }
}

/** `value` when it is an object whose every field in `checks` passes its check. */
function shape(field: string, value: unknown, checks: Record<string, Check>): Record<string, unknown> {
  const object = plainObject(field, value)
  for (const [key, check] of Object.entries(checks)) check(`${field}.${key}`, object[key])
  return object
}

function listOf(item: Check): Check {
  return (field, value) => {
    if (!Array.isArray(value)) throw new ConfigError(field, 'must be an array')
    value.forEach((v, i) => item(`${field}[${i}]`, v))
  }
}

function optional(check: Check): Check {
  return (field, value) => value === undefined || check(field, value)
}

function nullOr(check: Check): Check {
  return (field, value) => value === null || check(field, value)
}

function text(field: string, value: unknown): void {
  if (typeof value !== 'string') throw new ConfigError(field, 'must be a string')
}

function boolean(field: string, value: unknown): void {
  if (typeof value !== 'boolean') throw new ConfigError(field, 'must be true or false')
}

function count(field: string, value: unknown): void {
  requiredIntegerAtLeast(field, value, 0)
}

function atLeastOne(field: string, value: unknown): void {
  requiredIntegerAtLeast(field, value, 1)
}

function checksum(field: string, value: unknown): void {
  if (typeof value !== 'string' || !/^[0-9a-f]{8}$/.test(value)) throw new ConfigError(field, 'must be a checksum of 8 hex digits')
}
