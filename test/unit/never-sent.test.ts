import { describe, expect, it } from 'vitest'
import { neverSent } from '../../adapters/shared/never-sent.js'

describe('neverSent', () => {
  it('is true only for errors raised before any connection existed', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })
    const poolTimeout = Object.assign(new Error('Knex: Timeout acquiring a connection'), { name: 'KnexTimeoutError' })
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })
    expect(neverSent(refused)).toBe(true)
    expect(neverSent(poolTimeout)).toBe(true)
    // A connection that broke mid-statement may have delivered it.
    expect(neverSent(reset)).toBe(false)
    expect(neverSent(new Error('Connection terminated unexpectedly'))).toBe(false)
    expect(neverSent('ECONNREFUSED')).toBe(false)
  })
})
