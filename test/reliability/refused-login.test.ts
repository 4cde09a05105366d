import { afterAll, describe, expect, it } from 'vitest'
import { type Cluster, createCluster, ShardUnavailableError } from '../../src/index.js'
import type { ConnectionObject, ShardConfig } from '../../src/config/shard-config.js'
import { sharedShards } from '../support/shared-cluster.js'

/**
 * A server that refuses the connection itself (an unknown user, an unknown
 * database): every call fails with a ShardUnavailableError naming the shard, the
 * driver's words as its reason. The calls that run on a knex of their own
 * (migrate, the resharding status) too, not only those that take a pooled connection.
 */
describe.each(['postgres', 'mysql'] as const)('a %s server that refuses the login', (dialect) => {
  const real = sharedShards(dialect)[0]!
  const refused = (id: string, change: Partial<ConnectionObject>): ShardConfig => ({ ...real, id, connection: { ...(real.connection as ConnectionObject), ...change } })
  const clusters: Cluster[] = []
  afterAll(() => Promise.all(clusters.map((c) => c.close())))

  for (const [what, change] of [
    ['an unknown user', { user: 'nobody_here', password: 'wrong' }],
    ['an unknown database', { database: 'no_such_database' }],
  ] as const) {
    it(`${what}: migrate(), topology() and reshardStatus() fail typed, naming the shard`, async () => {
      const cluster = createCluster({ shards: [refused('locked', change)], recovery: false, timeouts: { recovery: 2_000 } })
      clusters.push(cluster)
      for (const call of [() => cluster.migrate(), () => cluster.topology(), () => cluster.reshardStatus()]) {
        const error = await call().then(
          () => undefined,
          (e: unknown) => e,
        )
        expect(error).toBeInstanceOf(ShardUnavailableError)
        expect((error as ShardUnavailableError).shardId).toBe('locked')
        expect((error as Error).message).toMatch(/could not get a connection/)
      }
    })
  }
})
