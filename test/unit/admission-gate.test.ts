import { describe, expect, it } from 'vitest'
import { admissionCapacity } from '../../src/contention/admission-capacity.js'
import { AdmissionGate, type Release } from '../../src/contention/admission-gate.js'
import { AdmissionTimeoutError } from '../../src/index.js'

const LONG = 60_000

describe('admission capacity', () => {
  it('is the smallest pool less the connections kept for recovery and the detector, at least 1', () => {
    expect(admissionCapacity([{}, {}])).toBe(8)
    expect(admissionCapacity([{ max: 10 }, { max: 4 }])).toBe(2)
    expect(admissionCapacity([{ max: 2 }])).toBe(1)
    expect(admissionCapacity([{ max: 1 }])).toBe(1)
    expect(admissionCapacity([{ max: 70 }, { max: 70 }])).toBe(68)
  })
})

describe('admission gate', () => {
  it('admits up to its capacity at once and serves the queue by first start time, ties in arrival order', async () => {
    const gate = new AdmissionGate(2, LONG)
    const first = (await gate.enter(100, LONG)) as Release
    const second = (await gate.enter(200, LONG)) as Release
    const order: string[] = []
    const queued = [
      ['new-1', 300],
      ['new-2', 300],
      // A retried attempt carries its first attempt's start time: it goes ahead of newer ones.
      ['retried', 150],
    ] as const
    const admissions = queued.map(([name, priority]) =>
      Promise.resolve(gate.enter(priority, LONG)).then((release) => {
        order.push(name)
        return release
      }),
    )
    expect(gate.stats()).toMatchObject({ running: 2, queuedNow: 3, maxQueued: 3, waited: 3 })
    first('committed')
    second('committed')
    const [a, b] = await Promise.all(admissions.slice(2).concat(admissions.slice(0, 1)))
    a!()
    b!()
    const last = await admissions[1]!
    last()
    expect(order).toEqual(['retried', 'new-1', 'new-2'])
    expect(gate.stats()).toMatchObject({ running: 0, queuedNow: 0, admitted: 5, timedOut: 0 })
  })

  it('fails the queue with a retryable AdmissionTimeoutError when nothing finishes within maxWait', async () => {
    const gate = new AdmissionGate(1, 20)
    const holder = (await gate.enter(1, LONG)) as Release
    const error = await Promise.resolve(gate.enter(2, LONG)).then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(AdmissionTimeoutError)
    expect((error as AdmissionTimeoutError).retryable).toBe(true)
    expect((error as Error).message).toContain('within maxWait (20 ms)')
    expect(gate.stats()).toMatchObject({ timedOut: 1, queuedNow: 0, running: 1 })
    holder()
    expect(gate.stats().running).toBe(0)
  })

  it('fails a queued attempt that waited its whole timeout even while the queue moves', async () => {
    const gate = new AdmissionGate(1, LONG)
    const holder = (await gate.enter(1, LONG)) as Release
    const error = await Promise.resolve(gate.enter(2, 20)).then(() => undefined, (e: unknown) => e)
    expect((error as Error).message).toContain('waited its whole timeout (20 ms)')
    holder()
  })

  it('lets an aborted signal leave the queue with a release that holds nothing', async () => {
    const gate = new AdmissionGate(1, LONG)
    const holder = (await gate.enter(1, LONG)) as Release
    const signal = new AbortController()
    const waiting = Promise.resolve(gate.enter(2, LONG, signal.signal))
    signal.abort()
    const release = await waiting
    release()
    expect(gate.stats()).toMatchObject({ running: 1, queuedNow: 0 })
    holder()
  })

  it('halves its limit on every deadlock victim, down to 1, and raises it back with commits', async () => {
    const gate = new AdmissionGate(8, LONG, { now: () => 0 })
    const releases = await Promise.all(Array.from({ length: 8 }, () => gate.enter(1, LONG)))
    // Simultaneous victims are separate cycles: each one halves the limit.
    releases[0]!('deadlock')
    expect(gate.stats().limit).toBe(4)
    for (const release of releases.slice(1)) release('deadlock')
    expect(gate.stats()).toMatchObject({ limit: 1, deadlocks: 8 })
    // Those deadlocks took no time on this clock, so they ask for no quiet time.
    for (let i = 0; i < 100; i++) ((await gate.enter(1, LONG)) as Release)('committed')
    expect(gate.stats().limit).toBe(8)
  })

  it('raises the limit only once no victim has fallen for eight times as long as the last one ran', async () => {
    let now = 0
    const gate = new AdmissionGate(8, LONG, { now: () => now })
    const loser = (await gate.enter(1, LONG)) as Release
    now = 400 // the attempt waited 400 ms for its cycle to be found
    loser('deadlock')
    expect(gate.stats().limit).toBe(4)
    const commit = async (): Promise<void> => ((await gate.enter(1, LONG)) as Release)('committed')
    for (let i = 0; i < 50; i++) await commit()
    expect(gate.stats().limit).toBe(4)
    now = 400 + 8 * 400 - 1
    await commit()
    expect(gate.stats().limit).toBe(4)
    now = 400 + 8 * 400
    for (let i = 0; i < 50; i++) await commit()
    expect(gate.stats().limit).toBe(8)
  })

  it('lets one long deadlock hold the limit down for at most 10 s', async () => {
    let now = 0
    const gate = new AdmissionGate(8, LONG, { now: () => now })
    const loser = (await gate.enter(1, LONG)) as Release
    now = 30_000
    loser('deadlock') // a PostgreSQL deadlock found after a long deadlock_timeout
    now = 40_000
    for (let i = 0; i < 50; i++) ((await gate.enter(1, LONG)) as Release)('committed')
    expect(gate.stats().limit).toBe(8)
  })

  it('lets one more in when the queue stands still under a lowered limit, up to capacity', async () => {
    const gate = new AdmissionGate(4, LONG, { reliefMs: 10, now: () => 0 })
    const [a, b] = (await Promise.all([gate.enter(1, LONG), gate.enter(1, LONG)])) as Release[]
    a!('deadlock')
    b!('deadlock')
    expect(gate.stats().limit).toBe(1)
    // The one running waits for the queued ones (say, at a barrier): without relief nothing moves until maxWait.
    const holder = (await gate.enter(1, LONG)) as Release
    const queued = await Promise.all([gate.enter(2, LONG), gate.enter(3, LONG), gate.enter(4, LONG)])
    expect(gate.stats()).toMatchObject({ running: 4, limit: 4, queuedNow: 0 })
    const fifth = Promise.resolve(gate.enter(6, 50)).then(() => 'admitted', (e: unknown) => (e as Error).name)
    // Never past capacity: the fifth one waits out its own timeout.
    expect(await fifth).toBe('AdmissionTimeoutError')
    for (const release of [holder, ...queued]) release()
  })

  it('leaves the limit alone for other conflicts: a lock timeout is often a refusal, not a cycle', async () => {
    let now = 0
    const gate = new AdmissionGate(8, LONG, { now: () => now })
    const refused = (await gate.enter(1, LONG)) as Release
    now = 1_000 // MariaDB's one-second wait on a fence an epoch change holds
    refused()
    expect(gate.stats()).toMatchObject({ limit: 8, deadlocks: 0 })
    const victim = (await gate.enter(1, LONG)) as Release
    victim('deadlock')
    expect(gate.stats()).toMatchObject({ limit: 4, deadlocks: 1 })
  })

  it('relieves a queue that formed under the full limit once a deadlock lowers it, letting in one more than are running', async () => {
    const gate = new AdmissionGate(8, LONG, { reliefMs: 10, now: () => 0 })
    const running = (await Promise.all(Array.from({ length: 8 }, () => gate.enter(1, LONG)))) as Release[]
    // Queued while all 8 slots were taken; no one arrives after it.
    const queued = Promise.resolve(gate.enter(2, LONG))
    // One victim: the limit halves to 4 while 7 still run (say, at a barrier the queued one completes).
    running[0]!('deadlock')
    expect(gate.stats()).toMatchObject({ limit: 4, running: 7, queuedNow: 1 })
    const admitted = await queued
    expect(gate.stats()).toMatchObject({ limit: 8, running: 8, queuedNow: 0 })
    for (const release of [...running.slice(1), admitted]) release()
  })

  describe('the lane', () => {
    it('is not wanted after a deadlock among attempts of this process', async () => {
      let now = 0
      const gate = new AdmissionGate(8, LONG, { now: () => now })
      const [victim, survivor] = (await Promise.all([gate.enter(1, LONG), gate.enter(2, LONG)])) as Release[]
      now = 300
      victim!('deadlock') // the survivor still runs: this process's own concurrency made the cycle
      survivor!('committed')
      expect(gate.laneWanted()).toBe(false)
      expect(gate.stats().lane).toEqual({ engaged: false, held: 0, missed: 0 })
    })

    it('is wanted after a victim that ran alone, for the quiet time the victim asked for', async () => {
      let now = 0
      const gate = new AdmissionGate(8, LONG, { now: () => now })
      const victim = (await gate.enter(1, LONG)) as Release
      now = 400
      victim('deadlock') // nothing else of this process ran: the cycle went through another process
      expect(gate.laneWanted()).toBe(true)
      now = 400 + 8 * 400 - 1
      expect(gate.laneWanted()).toBe(true)
      now = 400 + 8 * 400
      expect(gate.laneWanted()).toBe(false)
    })

    it('is not wanted after a victim that another attempt of this process ran beside, even one that ended first', async () => {
      let now = 0
      const gate = new AdmissionGate(8, LONG, { now: () => now })
      const [victim, survivor] = (await Promise.all([gate.enter(1, LONG), gate.enter(2, LONG)])) as Release[]
      survivor!('committed') // the server let the survivor through as soon as it rolled the victim back
      now = 300
      victim!('deadlock')
      expect(gate.laneWanted()).toBe(false)
      // One admitted later, while the first still ran, counts as beside it too.
      const first = (await gate.enter(3, LONG)) as Release
      const later = (await gate.enter(4, LONG)) as Release
      later('committed')
      first('deadlock')
      expect(gate.laneWanted()).toBe(false)
    })

    it('is wanted after a victim whose cycle ran through other processes, whatever ran beside it', async () => {
      let now = 0
      const gate = new AdmissionGate(8, LONG, { now: () => now })
      const [victim, other] = (await Promise.all([gate.enter(1, LONG), gate.enter(2, LONG)])) as Release[]
      now = 300
      victim!('deadlock with other processes')
      expect(gate.laneWanted()).toBe(true)
      other!('committed')
      expect(gate.stats()).toMatchObject({ limit: 4, deadlocks: 1 })
    })

    it('is left alone by lock timeouts and other conflicts', async () => {
      const gate = new AdmissionGate(8, LONG, { now: () => 0 })
      ;((await gate.enter(1, LONG)) as Release)()
      expect(gate.laneWanted()).toBe(false)
    })
  })
})
