import { randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import type { Dialect } from '../../src/index.js'
import type { DriverConnection, Participant } from '../../src/protocol/participant.js'
import { STACK_IDLE_MS } from '../../adapters/shared/idle-connection-stack.js'
import { participantFor } from '../helpers/participant-for.js'
import { sharedShards } from '../support/shared-cluster.js'

/**
 * A participant keeps the connections given back in front of its pool
 * (adapters/shared/idle-connection-stack.ts). Every bound of the pool still holds:
 * its size, its acquire timeout, a discarded connection never comes back, and
 * closing does not wait for the connections parked in front of it.
 */
const DIALECTS: Dialect[] = ['postgres', 'mysql']

describe.each(DIALECTS)('pooled connections of a %s participant', (dialect) => {
  const prefix = `ic${randomBytes(3).toString('hex')}_`
  const made: Participant[] = []
  const participant = (pool?: { max: number; acquireTimeoutMs: number }): Participant => {
    const p = participantFor(sharedShards(dialect)[0]!, prefix, undefined, pool === undefined ? undefined : { pool: { max: pool.max }, acquireTimeoutMs: pool.acquireTimeoutMs })
    made.push(p)
    return p
  }
  const works = async (p: Participant, conn: DriverConnection): Promise<void> => {
    await p.knex.raw('select 1').connection(conn)
  }
  /** A statement runs on `conn`, which then goes back. */
  const usable = async (p: Participant, conn: DriverConnection): Promise<void> => {
    await works(p, conn)
    p.release(conn)
  }
  afterEach(async () => {
    await Promise.all(made.splice(0).map((p) => p.close()))
  })

  it('hands a released connection out again, and never one that was discarded', async () => {
    const p = participant()
    const a = await p.acquire()
    p.release(a)
    const again = await p.acquire()
    expect(again).toBe(a)
    p.discard(again)
    const fresh = await p.acquire()
    expect(fresh).not.toBe(a)
    await usable(p, fresh)
  })

  it('still times out an acquire when every connection is in use, and serves a waiting acquire first', async () => {
    const p = participant({ max: 1, acquireTimeoutMs: 300 })
    const held = await p.acquire()
    const started = performance.now()
    await expect(p.acquire()).rejects.toThrow(/Timeout acquiring a connection/)
    expect(performance.now() - started).toBeGreaterThanOrEqual(250)
    const waiting = p.acquire()
    p.release(held)
    const served = await waiting
    expect(served).toBe(held)
    await usable(p, served)
  })

  it('drops its idle connections when a shard stopped answering on another one', async () => {
    const p = participant()
    const [stuck, idle] = [await p.acquire(), await p.acquire()]
    p.release(idle)
    p.discard(stuck, 'unresponsive')
    const next = await p.acquire()
    expect(next).not.toBe(idle)
    expect(next).not.toBe(stuck)
    await usable(p, next)
  })

  it('closes without waiting for the connections parked in front of the pool, and closes them', async () => {
    const p = participant()
    const [a, b] = [await p.acquire(), await p.acquire()]
    p.release(a)
    p.release(b)
    const started = performance.now()
    await p.close()
    expect(performance.now() - started).toBeLessThan(STACK_IDLE_MS)
    await expect(works(p, a)).rejects.toThrow()
    await expect(p.acquire()).rejects.toThrow()
  })
})
