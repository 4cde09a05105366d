import type { Cluster } from '../src/index.js'

/**
 * RSS after a small and a large number of cross-shard transactions (after a GC
 * when node runs with --expose-gc): a leak shows as growth between the two.
 */
export async function measureMemory(cluster: Cluster, quick: boolean) {
  const small = quick ? 2_000 : 10_000
  const large = quick ? 20_000 : 100_000
  let done = 0
  const runUntil = async (target: number): Promise<void> => {
    const worker = async (): Promise<void> => {
      while (done < target) {
        done++
        const a = 1 + Math.floor(Math.random() * 10_000)
        await cluster.transaction(async (tx) => {
          await tx.forShard('pg-0')('accounts').where({ id: a }).decrement('balance', 1)
          await tx.forShard('my-0')('accounts').where({ id: a }).increment('balance', 1)
        })
      }
    }
    await Promise.all(Array.from({ length: 16 }, worker))
  }
  const rss = (): number => {
    ;(globalThis as { gc?: () => void }).gc?.()
    return process.memoryUsage().rss / 2 ** 20
  }
  await runUntil(small)
  const rssAfterSmallMb = rss()
  await runUntil(large)
  const rssAfterLargeMb = rss()
  return { small, large, rssAfterSmallMb: Math.round(rssAfterSmallMb), rssAfterLargeMb: Math.round(rssAfterLargeMb), gc: typeof (globalThis as { gc?: unknown }).gc === 'function' }
}
