import { describe, expect, test } from 'vitest'
import { silentLogger } from '../../src/logger.js'
import { TopologyState } from '../../src/topology/topology-state.js'
import type { TopologyStore } from '../../src/topology/topology-store.js'
import type { Topology } from '../../src/topology/topology.js'

const SHARDS = [{ id: 'a', dialect: 'postgres' as const, weight: 1 }]

/** A store whose reads the test lets answer one at a time, each with the epoch stored when it was read. */
function controlledStore(): { store: TopologyStore; stored: { epoch: number }; answerNext(): void; reads(): number } {
  const stored = { epoch: 1 }
  const waiting: (() => void)[] = []
  let reads = 0
  const store = {
    active: () => {
      reads++
      const epochAtRead = stored.epoch
      return new Promise<Topology>((resolve) => waiting.push(() => resolve({ epoch: epochAtRead, shards: SHARDS, logShardId: 'a' })))
    },
  } as unknown as TopologyStore
  return { store, stored, answerNext: () => waiting.shift()?.(), reads: () => reads }
}

function stateOver(store: TopologyStore): TopologyState {
  return new TopologyState({
    configured: SHARDS,
    logShardId: 'a',
    mode: 'follow',
    storeOf: () => store,
    fences: new Map(),
    createFenceTable: async () => {},
    movingRing: () => Promise.reject(new Error('no move here')),
    logger: silentLogger,
  })
}

describe('TopologyState.reload', () => {
  test('sees a change that committed before the call, even while an older load is in flight', async () => {
    const { store, stored, answerNext, reads } = controlledStore()
    const state = stateOver(store)
    const first = state.reload() // reads epoch 1, still in flight
    stored.epoch = 2 // a mover commits epoch 2, then reloads
    const second = state.reload()
    const third = state.reload() // shares the queued load with the second caller
    answerNext()
    expect((await first).epoch).toBe(1)
    await new Promise((resolve) => setImmediate(resolve))
    answerNext()
    expect((await second).epoch).toBe(2)
    expect((await third).epoch).toBe(2)
    expect(reads()).toBe(2)
    expect(state.current.epoch).toBe(2)
  })

  test('ready() joins the load in flight instead of queueing another', async () => {
    const { store, answerNext, reads } = controlledStore()
    const state = stateOver(store)
    const first = state.reload()
    const ready = state.ready()
    answerNext()
    expect((await ready!).epoch).toBe(1)
    expect(await first).toBe(await ready!)
    expect(reads()).toBe(1)
  })
})
