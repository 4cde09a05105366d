import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TransactionAbortedError, TransactionInDoubtError } from '../../src/index.js'
import { pollUntil } from '../../src/testing/poll-until.js'
import type { Dialect } from '../../src/config/shard-config.js'
import { type Relay, relayedShard } from '../helpers/relay.js'
import { startTestCluster, type TestCluster } from '../helpers/test-cluster.js'
import { sharedShards } from '../support/shared-cluster.js'

/**
 * The decision write's answer is lost, and the log shard then refuses the fence's first
 * connection (as one restarting does): the coordinator tries the fence again within
 * `timeouts.decision`, gets a final answer, and tells its caller that answer instead
 * of "in doubt". The log shard is the first written shard (the decision goes in its
 * branch) and is reached through a relay cut just before the decision is sent.
 */
describe.each<Dialect>(['postgres', 'mysql'])('a lost decision whose fence is refused at first (%s log shard)', (dialect) => {
  let t: TestCluster
  let relay: Relay
  let accounts: string
  /** At the next decision: cut the log shard's connections and refuse one new one, or take it away. */
  let cutAtDecide: 'refuse once' | 'down' | undefined
  const other = sharedShards(dialect === 'postgres' ? 'mysql' : 'postgres')[0]!

  beforeAll(async () => {
    const { relay: relayed, shard: flaky } = await relayedShard(sharedShards(dialect)[0]!, 'flaky')
    relay = relayed
    await relay.open()
    t = await startTestCluster([flaky, other], {
      log: 'flaky',
      onStep: (event) => {
        // Synchronously, so the decision goes out before the driver reads of the cut: its answer is lost.
        if (event.step !== 'decide' || cutAtDecide === undefined) return
        if (cutAtDecide === 'down') void relay.close()
        else {
          relay.refuseNext(1)
          relay.cut()
        }
        cutAtDecide = undefined
      },
      // Long enough for a second try of the fence on a loaded machine, short enough to wait out once.
      timeouts: { decision: 2_000 },
      // Recovery may settle a transaction as soon as its timeout has passed.
      recovery: { enabled: false, graceMs: 0 },
    })
    accounts = t.table('accounts')
    await t.createAccounts(accounts, ['flaky', other.id], [{ id: 1, balance: 0 }])
  })

  afterAll(async () => {
    await relay.open().catch(() => {})
    await t?.close()
    await relay.close()
  })

  it('fences on a later try: aborted, the other branch rolled back, nothing in doubt', async () => {
    const before = (await t.balances(accounts, other.id)).get(1)
    cutAtDecide = 'refuse once'
    const error = await t.cluster
      .transaction(async (tx) => {
        await tx.forShard('flaky')(accounts).where({ id: 1 }).increment('balance', 10)
        await tx.forShard(other.id)(accounts).where({ id: 1 }).increment('balance', 10)
      })
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(TransactionAbortedError)
    expect(error).not.toBeInstanceOf(TransactionInDoubtError)
    expect((error as Error).message).toMatch(/fenced/)
    // The fence's first connection was refused: it was tried again.
    expect(relay.refused).toBe(1)
    expect((await t.balances(accounts, other.id)).get(1)).toBe(before)
    expect(await t.preparedBranches()).toEqual([])
  })

  it('gives up at timeouts.decision when the log shard stays away: in doubt, and recovery settles it', async () => {
    const before = (await t.balances(accounts, other.id)).get(1)
    cutAtDecide = 'down'
    const error = await t.cluster
      .transaction(async (tx) => {
        await tx.forShard('flaky')(accounts).where({ id: 1 }).increment('balance', 1)
        await tx.forShard(other.id)(accounts).where({ id: 1 }).increment('balance', 1)
      }, { timeout: 1_500 })
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(TransactionInDoubtError)
    await relay.open()
    // The decision never reached the log shard: recovery fences it and rolls the other branch back.
    await pollUntil(async () => (await t.cluster.recover().then(() => t.preparedBranches()).catch(() => [undefined])).length === 0, {
      timeoutMs: 20_000,
      intervalMs: 100,
      onTimeout: () => new Error('the in-doubt branch was never settled'),
    })
    expect((await t.balances(accounts, other.id)).get(1)).toBe(before)
  })
})
