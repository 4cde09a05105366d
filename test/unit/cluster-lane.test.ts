import { describe, expect, it } from 'vitest'
import { ClusterLane } from '../../src/contention/cluster-lane.js'
import type { LaneLock } from '../../src/contention/lane-lock.js'

const LONG = 60_000

/** A lane lock that is free or taken, answers in a microtask, and records what it was asked. */
class FakeLaneLock implements LaneLock {
  takenByOther = false
  held = false
  acquires = 0
  releases = 0
  closed = false
  failNext: Error | undefined
  /** The server keeps the acquire waiting past any bound (MariaDB's GET_LOCK ends ~1 s after its session does). */
  hangs = false

  async acquire(): Promise<boolean> {
    this.acquires++
    if (this.hangs) return new Promise<boolean>(() => {})
    if (this.failNext !== undefined) {
      const error = this.failNext
      this.failNext = undefined
      throw error
    }
    if (this.takenByOther || this.held) return false
    this.held = true
    return true
  }

  release(): void {
    this.releases++
    this.held = false
  }

  async close(): Promise<void> {
    this.closed = true
    this.held = false
  }
}

function laneWith(locks: FakeLaneLock[], waitMs = LONG, now?: () => number, place?: () => string): ClusterLane {
  return new ClusterLane(
    () => {
      const lock = new FakeLaneLock()
      locks.push(lock)
      return lock
    },
    waitMs,
    place,
    now,
  )
}

describe('the lane (ClusterLane)', () => {
  it('lets one attempt of the process in at a time, in arrival order, each holding the lock', async () => {
    const locks: FakeLaneLock[] = []
    const lane = laneWith(locks)
    const order: string[] = []
    const leaveA = await lane.enter(LONG)
    order.push('a in')
    const b = lane.enter(LONG).then((leave) => (order.push('b in'), leave))
    const c = lane.enter(LONG).then((leave) => (order.push('c in'), leave))
    await new Promise((resolve) => setImmediate(resolve))
    expect(order).toEqual(['a in'])
    expect(locks[0]!.held).toBe(true)
    order.push('a out')
    leaveA()
    const leaveB = await b
    expect(order).toEqual(['a in', 'a out', 'b in'])
    leaveB()
    leaveB() // a second call gives nothing back twice
    ;(await c)()
    expect(locks).toHaveLength(1) // one session serves the process
    expect(locks[0]!).toMatchObject({ acquires: 3, releases: 3, held: false })
    expect(lane.stats(true)).toEqual({ engaged: true, held: 3, missed: 0 })
  })

  it('runs an attempt without the lane once another process held it for the attempt’s whole wait', async () => {
    const locks: FakeLaneLock[] = []
    const lane = laneWith(locks, 5)
    const leave = await lane.enter(LONG) // opens the session
    leave()
    locks[0]!.takenByOther = true
    const next = await lane.enter(LONG)
    next()
    expect(lane.stats(true)).toEqual({ engaged: true, held: 1, missed: 1 })
    expect(locks[0]!.releases).toBe(1) // nothing to give back for the one that ran without
  })

  it('waits for the attempt ahead at most its bound, then runs without the lane', async () => {
    const lane = laneWith([])
    const ahead = await lane.enter(LONG)
    // The attempt ahead may be waiting for this one (its caller's code): the bound ends the wait.
    const behind = await lane.enter(5)
    behind()
    ahead()
    expect(lane.stats(true)).toMatchObject({ held: 1, missed: 1 })
  })

  it('stops waiting when the attempt’s signal aborts', async () => {
    const lane = laneWith([])
    const ahead = await lane.enter(LONG)
    const controller = new AbortController()
    const waiting = lane.enter(LONG, controller.signal)
    controller.abort()
    ;(await waiting)()
    ahead()
    expect(lane.stats(true)).toMatchObject({ held: 1, missed: 1 })
  })

  it('runs without the lane for a while after its session failed, then opens a fresh one', async () => {
    let now = 0
    const locks: FakeLaneLock[] = []
    const lane = laneWith(locks, LONG, () => now)
    ;(await lane.enter(LONG))()
    locks[0]!.failNext = new Error('connection reset')
    ;(await lane.enter(LONG))()
    expect(lane.stats(true)).toMatchObject({ held: 1, missed: 1 })
    now = 500 // not yet: every attempt would pay a failed connect
    ;(await lane.enter(LONG))()
    expect(locks).toHaveLength(1)
    now = 1_000
    ;(await lane.enter(LONG))()
    expect(locks).toHaveLength(2)
    expect(lane.stats(true)).toMatchObject({ held: 2, missed: 2 })
  })

  it('closes its session on close(), and lets later attempts run without it', async () => {
    const locks: FakeLaneLock[] = []
    const lane = laneWith(locks)
    const leave = await lane.enter(LONG)
    await lane.close()
    leave() // the lock closed with its session: nothing sent
    expect(locks[0]!).toMatchObject({ closed: true, releases: 0 })
    ;(await lane.enter(LONG))()
    expect(locks).toHaveLength(1)
    expect(lane.stats(false)).toMatchObject({ held: 1, missed: 1 })
  })

  it('moves to the new log shard after the log moved, closing the old session', async () => {
    let log = 'pg-0'
    const locks: FakeLaneLock[] = []
    const lane = laneWith(locks, LONG, undefined, () => log)
    ;(await lane.enter(LONG))()
    log = 'my-0'
    ;(await lane.enter(LONG))()
    expect(locks).toHaveLength(2)
    expect(locks[0]!.closed).toBe(true)
    expect(locks[1]!).toMatchObject({ acquires: 1, releases: 1 })
  })

  it('ends a wait the server still holds at once when close() begins', async () => {
    const locks: FakeLaneLock[] = []
    const lane = laneWith(locks)
    ;(await lane.enter(LONG))()
    locks[0]!.hangs = true
    const waiting = lane.enter(LONG)
    const behind = lane.enter(LONG)
    await new Promise((resolve) => setImmediate(resolve))
    await lane.close()
    ;(await waiting)()
    ;(await behind)()
    expect(lane.stats(false)).toMatchObject({ held: 1, missed: 2 })
  })

  it('gives up on a lock that never answers within its bound plus grace, closes it, and runs without the lane', async () => {
    const locks: FakeLaneLock[] = []
    const lane = laneWith(locks, 20)
    ;(await lane.enter(LONG))()
    locks[0]!.hangs = true // a log shard that stopped answering
    ;(await lane.enter(LONG))()
    expect(locks[0]!.closed).toBe(true)
    expect(lane.stats(true)).toMatchObject({ held: 1, missed: 1 })
  })
})
