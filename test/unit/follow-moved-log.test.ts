import { describe, expect, test } from 'vitest'
import { ConfigError, ShardUnavailableError } from '../../src/errors.js'
import { silentLogger } from '../../src/logger.js'
import type { EpochFence } from '../../src/topology/epoch-fence.js'
import { TopologyState } from '../../src/topology/topology-state.js'
import type { TopologyStore } from '../../src/topology/topology-store.js'
import type { Topology } from '../../src/topology/topology.js'

const SHARDS = ['a', 'b', 'c'].map((id) => ({ id, dialect: 'postgres' as const, weight: 1 }))

/** A state configured with log `a`, over one stored topology per shard (undefined: none stored there). */
function stateOver(stored: Record<string, Topology | undefined>, connected = ['a', 'b', 'c']): { state: TopologyState; reads: string[] } {
  const reads: string[] = []
  const storeOf = (id: string) => ({ active: async () => (reads.push(id), stored[id]) }) as unknown as TopologyStore
  const state = new TopologyState({
    configured: SHARDS,
    logShardId: 'a',
    mode: 'follow',
    storeOf,
    fences: new Map(connected.map((id) => [id, {} as EpochFence])),
    createFenceTable: async () => {},
    movingRing: () => Promise.reject(new Error('no move here')),
    logger: silentLogger,
  })
  return { state, reads }
}

const at = (epoch: number, logShardId: string): Topology => ({ epoch, shards: SHARDS, logShardId })

describe('following a moved log', () => {
  test('a topology naming another log shard is a pointer: followed, hop after hop, and that log is used from then on', async () => {
    const { state, reads } = stateOver({ a: at(3, 'b'), b: at(5, 'c'), c: at(6, 'c') })
    expect((await state.reload()).topology).toEqual(at(6, 'c'))
    expect(reads).toEqual(['a', 'b', 'c'])
    expect(state.logShardId).toBe('c')
    await state.reload()
    expect(reads).toEqual(['a', 'b', 'c', 'c'])
  })

  test('a loop between logs is a ConfigError', async () => {
    const { state } = stateOver({ a: at(3, 'b'), b: at(4, 'a') })
    await expect(state.reload()).rejects.toThrow(ConfigError)
    await expect(state.reload()).rejects.toThrow(/loop or too far \(a -> b -> a\)/)
  })

  test('a new log that does not hold the epoch yet (its commit still on its way) is a retryable error naming it', async () => {
    const { state } = stateOver({ a: at(3, 'b'), b: at(2, 'a') })
    const refused = state.reload()
    await expect(refused).rejects.toBeInstanceOf(ShardUnavailableError)
    await expect(refused).rejects.toMatchObject({ shardId: 'b', retryable: true })
    expect(state.logShardId).toBe('a')
  })

  test('a new log this process has no connection for is a ConfigError', async () => {
    const { state } = stateOver({ a: at(3, 'b') }, ['a', 'c'])
    await expect(state.reload()).rejects.toThrow(/the log moved from a to b \(epoch 3\), which this process has no connection for/)
  })
})
