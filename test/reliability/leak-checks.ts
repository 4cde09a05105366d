import { createServer } from 'node:net'
import { expect } from 'vitest'
import type { Cluster } from '../../src/index.js'
import { connectionsOnIdleStack } from '../../adapters/shared/knex-internals.js'

interface PoolCounts {
  numUsed(): number
  numPendingAcquires(): number
  numPendingCreates(): number
}

/**
 * Connections of one shard's pool that are checked out or waited for. Those given
 * back and parked on the idle-connection stack in front of the pool count as back.
 */
export function poolUsage(cluster: Cluster, shardId: string): { used: number; pending: number } {
  const knex = cluster.forShard(shardId)
  const pool = (knex.client as unknown as { pool: PoolCounts }).pool
  return { used: pool.numUsed() - connectionsOnIdleStack(knex), pending: pool.numPendingAcquires() }
}

/**
 * After a transaction settled: every connection is back in its pool (or closed),
 * nobody waits for one, and no branch of this cluster is left prepared anywhere.
 *
 * Polled briefly: after a two-phase commit the log shard's connection is taken
 * once more, off the caller's path, to delete the commit record (step 4, forget).
 */
export async function expectNothingLeaked(cluster: Cluster, shardIds: string[] = cluster.shardIds): Promise<void> {
  for (const shardId of shardIds) {
    await expect.poll(() => poolUsage(cluster, shardId), { message: `pool of ${shardId}`, timeout: 5_000 }).toEqual({ used: 0, pending: 0 })
  }
  expect(await cluster.inDoubt()).toEqual([])
}

/** Runs `work` and returns what it threw, failing the test when it does not throw. */
export async function failureOf(work: () => unknown): Promise<{ error: Error }> {
  try {
    await work()
  } catch (error) {
    return { error: error as Error }
  }
  throw new Error('expected a failure, but it succeeded')
}

/** A port nothing listens on: bound once by us, then closed. */
export async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}
