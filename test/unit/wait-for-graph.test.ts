import { describe, expect, it } from 'vitest'
import { findDeadlocks } from '../../src/contention/cycle-finder.js'
import { labelText, parseWaitLabel } from '../../src/contention/wait-label.js'
import { waitForGraph } from '../../src/contention/wait-for-graph.js'
import { youngest } from '../../src/contention/victim-choice.js'
import { newTransactionId } from '../../src/protocol/ids/transaction-id.js'

const T0 = 1_750_000_000_000
const older = newTransactionId(T0, 30_000)
const younger = newTransactionId(T0 + 5, 30_000)
const youngest3 = newTransactionId(T0 + 9, 30_000)

describe('wait labels', () => {
  it('round-trip through text, found anywhere in a statement', () => {
    const text = labelText(older, [{ shardId: 'my-0', session: '42' }, { shardId: 'my-1', session: '7' }])
    expect(text).toBe(`stx:${older} my-0=42,my-1=7`)
    expect(parseWaitLabel(`XA START 'x'; /*${text}*/ update t set a = 1`)).toEqual({
      txId: older,
      sessions: [{ shardId: 'my-0', session: '42' }, { shardId: 'my-1', session: '7' }],
    })
    expect(parseWaitLabel(null)).toBeUndefined()
    expect(parseWaitLabel('update t set a = 1')).toBeUndefined()
  })

  it('leave out whole sessions that do not fit the length a server keeps', () => {
    const text = labelText(older, [{ shardId: 'my-0', session: '42' }, { shardId: 'my-1', session: '7' }], 33)
    expect(text).toBe(`stx:${older} my-0=42`)
    expect(parseWaitLabel(text)!.sessions).toEqual([{ shardId: 'my-0', session: '42' }])
  })
})

describe('victim choice', () => {
  it('is the youngest by the start time in the id, ties by the greater id, whatever the order', () => {
    expect(youngest([older, younger])).toBe(younger)
    expect(youngest([younger, older])).toBe(younger)
    const twin = newTransactionId(T0 + 5, 30_000)
    expect(youngest([twin, younger])).toBe(twin > younger ? twin : younger)
  })
})

describe('wait-for graph and cycles', () => {
  it('closes a PostgreSQL–MariaDB cycle from labels alone, the MariaDB blocker known by the session its PostgreSQL label lists', () => {
    // older holds my-0 (thread 11) and waits on pg-0; younger holds pg-0 (pid 900) and waits on my-0.
    const waits = new Map([
      ['pg-0', [{ waiter: '901', waiterText: `stx:${older} my-0=11`, blocker: '900', blockerText: `stx:${younger}` }]],
      ['my-0', [{ waiter: '12', waiterText: `/*stx:${younger} my-0=12*/ update t`, blocker: '11', blockerText: null }]],
    ])
    const graph = waitForGraph(waits, new Map())
    const deadlocks = findDeadlocks(graph)
    expect(deadlocks).toHaveLength(1)
    expect(deadlocks[0]!.victim).toBe(younger)
    expect(deadlocks[0]!.cycle).toEqual([
      { waiter: younger, blocker: older, shardId: 'my-0' },
      { waiter: older, blocker: younger, shardId: 'pg-0' },
    ])
  })

  it('maps sessions of its own transactions without labels, and ignores waits on sessions it cannot name', () => {
    const waits = new Map([
      ['my-0', [
        { waiter: '12', waiterText: `/*stx:${younger}*/ update t`, blocker: '11', blockerText: null },
        { waiter: '13', waiterText: 'update t', blocker: '12', blockerText: null },
      ]],
      ['my-1', [{ waiter: '21', waiterText: null, blocker: '22', blockerText: null }]],
    ])
    const local = new Map([['my-0', new Map([['11', older]])], ['my-1', new Map([['21', older], ['22', younger]])]])
    const deadlocks = findDeadlocks(waitForGraph(waits, local))
    expect(deadlocks.map((d) => d.victim)).toEqual([younger])
  })

  it('draws no edge from a row whose session shows the label of another transaction than the one holding it now (a lagging view)', () => {
    // The view still shows older waiting on my-0 from session 12, which younger holds now;
    // with the real pg-0 wait of older for younger that row would close a false cycle.
    const waits = new Map([
      ['my-0', [{ waiter: '12', waiterText: `/*stx:${older}*/ update t`, blocker: '11', blockerText: null }]],
      ['pg-0', [{ waiter: '901', waiterText: `stx:${older} my-0=11`, blocker: '900', blockerText: `stx:${younger} my-0=12` }]],
    ])
    const local = new Map([['my-0', new Map([['12', younger]])]])
    const graph = waitForGraph(waits, local)
    expect([...graph.values()].flat()).toEqual([{ waiter: older, blocker: younger, shardId: 'pg-0' }])
    expect(findDeadlocks(graph)).toEqual([])
  })

  it('breaks two cycles that share a member with as few victims as the youngest-first rule gives, the same in any edge order', () => {
    // older ⇄ younger on a/b, older ⇄ youngest3 on c/d: removing the youngest of the component
    // (youngest3) leaves the first cycle, whose youngest (younger) falls next.
    const edges = [
      { waiter: older, blocker: younger, shardId: 'a' },
      { waiter: younger, blocker: older, shardId: 'b' },
      { waiter: older, blocker: youngest3, shardId: 'c' },
      { waiter: youngest3, blocker: older, shardId: 'd' },
    ]
    const graphOf = (list: typeof edges) => {
      const graph = new Map<string, typeof edges>()
      for (const e of list) graph.set(e.waiter, [...(graph.get(e.waiter) ?? []), e])
      return graph
    }
    const victims = findDeadlocks(graphOf(edges)).map((d) => d.victim)
    expect(victims).toEqual([youngest3, younger])
    expect(findDeadlocks(graphOf([...edges].reverse())).map((d) => d.victim)).toEqual(victims)
  })

  it('finds nothing in a chain of waits', () => {
    const graph = new Map([[older, [{ waiter: older, blocker: younger, shardId: 'a' }]]])
    expect(findDeadlocks(graph)).toEqual([])
  })
})
