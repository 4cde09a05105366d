import { describe, expect, it } from 'vitest'
import { DeadlockDetector } from '../../src/contention/deadlock-detector.js'
import { silentLogger } from '../../src/logger.js'
import type { LockWait, LockWaitSource } from '../../src/protocol/participant.js'

/** A source that counts its reads; every read shows session 1 waiting for session 2. */
function countingSource(view: string | undefined, reads: string[], name: string): LockWaitSource {
  return {
    idleSessionsShowLabel: view === undefined,
    ...(view === undefined ? {} : { view }),
    sessionOf: () => '1',
    probe: async () => undefined,
    lockWaits: async (): Promise<LockWait[]> => {
      reads.push(name)
      return [{ waiter: '1', waiterText: null, blocker: '2', blockerText: null }]
    },
    runLabelled: () => Promise.resolve(undefined),
  }
}

describe('the deadlock detector reads a server-wide view once per round', () => {
  it('reads two MariaDB shards of one server once, and every other shard on its own', async () => {
    const reads: string[] = []
    const sources = new Map<string, LockWaitSource>([
      ['my-0', countingSource('mysql:db:3306', reads, 'my-0')],
      ['my-1', countingSource('mysql:db:3306', reads, 'my-1')],
      ['my-2', countingSource('mysql:other:3306', reads, 'my-2')],
      ['pg-0', countingSource(undefined, reads, 'pg-0')],
      ['pg-1', countingSource(undefined, reads, 'pg-1')],
    ])
    const detector = new DeadlockDetector(sources, 10, silentLogger)
    // One statement of this process has waited on my-1 for long: the detector looks at once.
    const stop = detector.track({
      id: 'tx',
      sessions: () => [{ shardId: 'my-1', session: '1', busySince: performance.now() - 60_000 }],
      abort: () => {},
    })
    try {
      while (detector.stats().rounds < 1 || reads.length < 4) await new Promise((resolve) => setTimeout(resolve, 5))
    } finally {
      stop()
      await detector.stop()
    }
    const firstRound = reads.slice(0, 4)
    // The suspect's view first (through my-1), then each other view once: my-0 shares my-1's.
    expect(firstRound[0]).toBe('my-1')
    expect(firstRound.slice(1).sort()).toEqual(['my-2', 'pg-0', 'pg-1'])
    expect(reads).not.toContain('my-0')
  })
})
