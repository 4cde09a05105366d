import { afterAll, beforeAll, expect, test } from 'vitest'
import { createCluster, ShardUnavailableError } from '../../src/index.js'
import { type LocalCluster, startLocalCluster } from '../../src/testing/index.js'

let local: LocalCluster
beforeAll(async () => {
  local = await startLocalCluster({ postgres: 1, mysql: 1, durable: false, faults: true })
}, 120_000)
afterAll(() => local?.destroy())

test('with the log shard black-holed, the job calls settle with a typed error (bounded by connectTimeout and timeouts.recovery)', async () => {
  const cluster = createCluster({ shards: local.shards, log: 'pg-0', recovery: false, connectTimeout: 1000, timeouts: { recovery: 500 } })
  try {
    await cluster.migrate()
    expect(await cluster.reshardStatus()).toBeUndefined()
    await local.partition('pg-0', { mode: 'blackhole' })
    // Without a bound these wait for TCP to give up (minutes) and the test times out.
    for (const call of [() => cluster.reshardStatus(), () => cluster.cancelReshard()]) {
      const error = await call().catch((e: unknown) => e)
      expect(error).toBeInstanceOf(ShardUnavailableError)
      expect((error as ShardUnavailableError).shardId).toBe('pg-0')
    }
    await local.heal('pg-0')
    expect(await cluster.reshardStatus()).toBeUndefined()
  } finally {
    await local.heal('pg-0').catch(() => {})
    await cluster.close()
  }
})
