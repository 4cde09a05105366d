import type { OrderTerm } from './query-state.js'
import { RoutingError } from './routing-error.js'

type Row = Record<string, unknown>

const DECIMAL = /^-?\d+(\.\d+)?$/

/**
 * Orders rows gathered from several shards by `order`, stably (ties keep shard
 * order). Values compare as:
 * - numbers and bigints by value; booleans as 0 and 1 (MariaDB returns them so);
 * - strings made only of a decimal number by value, against each other and against
 *   numbers: PostgreSQL returns bigint and numeric, MariaDB DECIMAL, as strings;
 * - other strings by UTF-16 code units (a binary collation, not the server's);
 * - Dates by time, byte arrays bytewise; NULL where the term says.
 * Any other mix of types is refused with a {@link RoutingError}.
 */
export function sortRows(table: string, rows: Row[], order: readonly OrderTerm[]): Row[] {
  return rows.sort((a, b) => {
    for (const term of order) {
      const c = compareTerm(table, a[term.key], b[term.key], term)
      if (c !== 0) return c
    }
    return 0
  })
}

function compareTerm(table: string, a: unknown, b: unknown, term: OrderTerm): number {
  const aNull = a === null || a === undefined
  const bNull = b === null || b === undefined
  if (aNull || bNull) {
    if (aNull && bNull) return 0
    return aNull === (term.nulls === 'first') ? -1 : 1
  }
  const c = compareValues(table, term.key, a, b)
  return term.direction === 'asc' ? c : -c
}

/**
 * Compares two non-null column values as {@link sortRows} describes.
 */
export function compareValues(table: string, column: string, a: unknown, b: unknown): number {
  const x = typeof a === 'boolean' ? Number(a) : a
  const y = typeof b === 'boolean' ? Number(b) : b
  if (isNumeric(x) && isNumeric(y)) return x < y ? -1 : x > y ? 1 : 0
  const dx = decimalText(x)
  const dy = decimalText(y)
  if (dx !== undefined && dy !== undefined) return compareDecimals(dx, dy)
  if (typeof x === 'string' && typeof y === 'string') return x < y ? -1 : x > y ? 1 : 0
  if (x instanceof Date && y instanceof Date) return Math.sign(x.getTime() - y.getTime())
  if (x instanceof Uint8Array && y instanceof Uint8Array) return Buffer.compare(x, y)
  throw new RoutingError('UNROUTABLE_QUERY', table, `cannot order ${describe(a)} against ${describe(b)} in ${column} after merging shards`)
}

function isNumeric(value: unknown): value is number | bigint {
  return typeof value === 'bigint' || (typeof value === 'number' && !Number.isNaN(value))
}

function decimalText(value: unknown): string | undefined {
  if (typeof value === 'string') return DECIMAL.test(value) ? value : undefined
  if (typeof value === 'bigint') return value.toString()
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value)
  if (typeof value === 'number') {
    const text = String(value)
    return DECIMAL.test(text) ? text : undefined
  }
  return undefined
}

/**
 * Compares decimal numerals exactly, whatever their length: `'-0.50'` < `'0'` < `'9'` < `'10.0'`.
 */
export function compareDecimals(a: string, b: string): number {
  const x = splitDecimal(a)
  const y = splitDecimal(b)
  if (x.negative !== y.negative) return x.negative ? -1 : 1
  const magnitude =
    x.whole.length !== y.whole.length
      ? Math.sign(x.whole.length - y.whole.length)
      : x.whole !== y.whole
        ? (x.whole < y.whole ? -1 : 1)
        : compareFractions(x.fraction, y.fraction)
  return x.negative ? -magnitude : magnitude
}

function splitDecimal(text: string): { negative: boolean; whole: string; fraction: string } {
  const negative = text.startsWith('-')
  const [whole = '', fraction = ''] = (negative ? text.slice(1) : text).split('.')
  const w = whole.replace(/^0+/, '')
  const f = fraction.replace(/0+$/, '')
  // -0 and -0.00 are zero, which has no sign.
  return { negative: negative && (w !== '' || f !== ''), whole: w, fraction: f }
}

function compareFractions(a: string, b: string): number {
  const n = Math.max(a.length, b.length)
  const x = a.padEnd(n, '0')
  const y = b.padEnd(n, '0')
  return x < y ? -1 : x > y ? 1 : 0
}

function describe(value: unknown): string {
  if (value instanceof Date) return 'a Date'
  if (value instanceof Uint8Array) return 'bytes'
  return `${typeof value === 'object' ? 'an object' : `a ${typeof value}`} (${String(value).slice(0, 20)})`
}
