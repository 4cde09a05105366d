import { describe, expect, it } from 'vitest'
import type { OrderTerm } from '../../src/sharded-tables/query-state.js'
import { compareDecimals, compareValues, sortRows } from '../../src/sharded-tables/row-order.js'
import { RoutingError } from '../../src/sharded-tables/routing-error.js'

const term = (key: string, direction: 'asc' | 'desc', nulls: 'first' | 'last'): OrderTerm => ({ column: key, key, direction, nulls })

describe('ordering merged rows', () => {
  it('compares decimal numerals by value, at any length', () => {
    const sorted = ['10', '9', '-0.5', '0', '100.000', '99.99', '-10', '12345678901234567890'].sort(compareDecimals)
    expect(sorted).toEqual(['-10', '-0.5', '0', '9', '10', '99.99', '100.000', '12345678901234567890'])
    expect(compareDecimals('-0', '0')).toBe(0)
    expect(compareDecimals('1.50', '1.5')).toBe(0)
  })

  it('orders bigint columns that come back as strings from one dialect and numbers from another', () => {
    // PostgreSQL returns bigint as '10'; MariaDB as 9.
    expect(compareValues('t', 'score', '10', 9)).toBe(1)
    expect(compareValues('t', 'score', 9n, '10')).toBe(-1)
    expect(compareValues('t', 'score', true, 0)).toBe(1)
    expect(compareValues('t', 'name', 'b', 'a')).toBe(1)
    expect(compareValues('t', 'at', new Date(2), new Date(1))).toBe(1)
  })

  it('puts nulls where each term says, independently of direction', () => {
    const rows = () => [{ v: 2 }, { v: null }, { v: 1 }, { v: undefined }]
    expect(sortRows('t', rows(), [term('v', 'asc', 'last')]).map((r) => r.v)).toEqual([1, 2, null, undefined])
    expect(sortRows('t', rows(), [term('v', 'asc', 'first')]).map((r) => r.v)).toEqual([null, undefined, 1, 2])
    expect(sortRows('t', rows(), [term('v', 'desc', 'first')]).map((r) => r.v)).toEqual([null, undefined, 2, 1])
    expect(sortRows('t', rows(), [term('v', 'desc', 'last')]).map((r) => r.v)).toEqual([2, 1, null, undefined])
  })

  it('sorts stably by several terms', () => {
    const rows = [
      { a: 1, b: 'x', n: 1 },
      { a: 0, b: 'y', n: 2 },
      { a: 1, b: 'w', n: 3 },
      { a: 1, b: 'x', n: 4 },
    ]
    expect(sortRows('t', rows, [term('a', 'desc', 'first'), term('b', 'asc', 'last')]).map((r) => r.n)).toEqual([3, 1, 4, 2])
  })

  it('refuses to order values of types that do not compare', () => {
    expect(() => compareValues('t', 'v', 'abc', 3)).toThrow(RoutingError)
    expect(() => compareValues('t', 'v', new Date(), 'x')).toThrow(/cannot order/)
  })
})
