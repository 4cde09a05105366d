import { describe, expect, it } from 'vitest'
import { ConfigError } from '../../src/errors.js'
import { MAX_SHARDS, ShardRing } from '../../src/sharding/index.js'

function configError(shards: unknown): ConfigError {
  try {
    ShardRing.build(shards as never)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return error as ConfigError
  }
  throw new Error('expected a ConfigError')
}

describe('shard list validation', () => {
  const cases: [string, unknown, string, RegExp][] = [
    ['not an array', { id: 'a' }, 'shards', /must be an array/],
    ['an empty list', [], 'shards', /at least one shard/],
    ['a non-object entry', [{ id: 'a' }, 'b'], 'shards[1]', /must be an object/],
    ['a null entry', [null], 'shards[0]', /must be an object/],
    ['a missing id', [{ weight: 1 }], 'shards[0].id', /must be a string, got undefined/],
    ['a numeric id', [{ id: 'a' }, { id: 7 }], 'shards[1].id', /must be a string, got number 7/],
    ['an empty id', [{ id: '' }], 'shards[0].id', /must not be empty/],
    ['a lone surrogate in an id', [{ id: 'a\ud800' }], 'shards[0].id', /lone surrogate/],
    ['a duplicate id', [{ id: 'a' }, { id: 'b' }, { id: 'a' }], 'shards[2].id', /duplicates shards\[0\]\.id \("a"\)/],
    ['a zero weight', [{ id: 'a' }, { id: 'b', weight: 0 }], 'shards[1].weight', /greater than 0/],
    ['a negative weight', [{ id: 'a', weight: -1 }], 'shards[0].weight', /greater than 0/],
    ['a NaN weight', [{ id: 'a', weight: NaN }], 'shards[0].weight', /must be finite/],
    ['an infinite weight', [{ id: 'a', weight: Infinity }], 'shards[0].weight', /must be finite/],
    ['a string weight', [{ id: 'a', weight: '2' }], 'shards[0].weight', /must be a number, got string "2"/],
    ['a null weight', [{ id: 'a', weight: null }], 'shards[0].weight', /must be a number, got null/],
    ['a tiny weight', [{ id: 'a', weight: 1e-12 }], 'shards[0].weight', /between/],
    ['a huge weight', [{ id: 'a', weight: 1e12 }], 'shards[0].weight', /between/],
  ]
  for (const [name, shards, field, problem] of cases) {
    it(`rejects ${name}, naming ${field}`, () => {
      const error = configError(shards)
      expect(error.field).toBe(field)
      expect(error.code).toBe('CONFIG')
      expect(error.message).toMatch(problem)
      expect(error.message.startsWith(`${field}: `)).toBe(true)
    })
  }

  it(`rejects more than ${MAX_SHARDS} shards`, () => {
    const shards = Array.from({ length: MAX_SHARDS + 1 }, (_, i) => ({ id: `s${i}` }))
    expect(configError(shards).field).toBe('shards')
  })

  it('accepts a missing weight as 1 and ignores other fields', () => {
    const ring = ShardRing.build([{ id: 'b', weight: 2 }, { id: 'a', dialect: 'postgres', connection: 'x' } as never])
    expect(ring.shards).toEqual([
      { id: 'a', weight: 1 },
      { id: 'b', weight: 2 },
    ])
  })
})
