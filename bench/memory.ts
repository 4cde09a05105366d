import type { Cluster } from '../src/index.js'
import { shardtxTransfer } from './transfer.js'

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
        await shardtxTransfer(cluster, 'pg-0', 'my-0')
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
