import { afterEach, describe, expect, test } from 'vitest'
import { ConfigError, createCluster, type Cluster, type ShardConfig } from '../../src/index.js'
import { startTestCluster, type TestCluster } from '../helpers/test-cluster.js'
import { sharedShards } from '../support/shared-cluster.js'

const opened: (TestCluster | Cluster)[] = []
afterEach(async () => {
  await Promise.all(opened.splice(0).map((c) => c.close()))
})

async function first(shards: ShardConfig[]): Promise<TestCluster> {
  const test = await startTestCluster(shards)
  opened.push(test)
  return test
}

/** Another process over the same log table and prefix, with its own shard list. */
function another(of: TestCluster, shards: ShardConfig[], topology?: 'check' | 'follow'): Cluster {
  const cluster = createCluster({ shards, prefix: of.prefix, logTable: of.logTable, recovery: false, ...(topology ? { topology } : {}) })
  opened.push(cluster)
  return cluster
}

const writeNothing = async (): Promise<void> => {}

describe('the stored topology', () => {
  test('the first process stores its shard set at epoch 1, and every shard is fenced at 1', async () => {
    const all = sharedShards()
    const { cluster } = await first(all)
    await cluster.transaction(writeNothing)
    const topology = await cluster.topology()
    expect(topology.epoch).toBe(1)
    expect(topology.shards.map((s) => `${s.id}:${s.dialect}:${s.weight}`)).toEqual(
      all.map((s) => `${s.id}:${s.dialect}:1`).sort(),
    )
    expect(topology.pending).toBeUndefined()
    expect(topology.fences.map((f) => f.epoch)).toEqual(all.map(() => 1))
  })

  test('a process whose shard list differs is refused at first use, with the difference named', async () => {
    const [a, b, c, d] = sharedShards()
    const test = await first([a!, b!, c!])
    await test.cluster.transaction(writeNothing)
    const added = another(test, [a!, b!, c!, d!])
    await added.migrate()
    await expect(added.transaction(writeNothing)).rejects.toThrow(ConfigError)
    await expect(added.transaction(writeNothing)).rejects.toThrow(new RegExp(`adds ${d!.id}`))
    const removed = another(test, [a!, b!])
    await expect(removed.transaction(writeNothing)).rejects.toThrow(new RegExp(`lacks ${c!.id}`))
    const weighted = another(test, [a!, { ...b!, weight: 3 }, c!])
    await expect(weighted.transaction(writeNothing)).rejects.toThrow(new RegExp(`gives ${b!.id} weight 3 \\(the stored topology: 1\\)`))
  })

  test("topology: 'follow' routes by the stored set, given a connection for each stored shard", async () => {
    const [a, b, c, d] = sharedShards()
    const test = await first([a!, b!])
    await test.cluster.transaction(writeNothing)
    const follower = another(test, [a!, b!, c!, d!], 'follow')
    await follower.transaction(writeNothing)
    expect((await follower.topology()).shards.map((s) => s.id)).toEqual([a!.id, b!.id].sort())
    for (const key of ['k1', 'k2', 'k3', 'k4', 'k5', 'k6']) expect(follower.shardFor(key)).toBe(test.cluster.shardFor(key))
    const lacking = another(test, [a!], 'follow')
    await expect(lacking.transaction(writeNothing)).rejects.toThrow(new RegExp(`routes to shard ${b!.id}, which this process has no connection for`))
  })

  test('racing first processes with different sets agree on one: the other is refused', async () => {
    const [a, b, c] = sharedShards()
    const test = await first([a!, b!])
    const rival = another(test, [a!, b!, c!])
    await rival.migrate()
    const outcomes = await Promise.allSettled([test.cluster.transaction(writeNothing), rival.transaction(writeNothing)])
    const refused = outcomes.filter((o) => o.status === 'rejected')
    expect(refused).toHaveLength(1)
    expect((refused[0] as PromiseRejectedResult).reason).toBeInstanceOf(ConfigError)
    // Whichever won, the stored topology is its set at epoch 1.
    const winner = outcomes[0]!.status === 'fulfilled' ? [a!, b!] : [a!, b!, c!]
    const stored = await another(test, [a!, b!, c!], 'follow').topology()
    expect([stored.epoch, stored.shards.map((s) => s.id)]).toEqual([1, winner.map((s) => s.id).sort()])
  })

  test('a process configured with another log shard cannot adopt shards fenced by this one', async () => {
    const [a, b] = sharedShards()
    const test = await first([a!, b!])
    await test.cluster.transaction(writeNothing)
    const otherLog = createCluster({ shards: [a!, b!], log: b!.id, prefix: test.prefix, logTable: test.logTable, recovery: false })
    opened.push(otherLog)
    await otherLog.migrate()
    await expect(otherLog.transaction(writeNothing)).rejects.toThrow(new RegExp(`fenced by the topology of log shard ${a!.id}`))
  })
})
