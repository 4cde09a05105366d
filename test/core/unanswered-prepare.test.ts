import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TransactionAbortedError, TransactionTimeoutError } from '../../src/index.js'
import type { Dialect } from '../../src/config/shard-config.js'
import { type Relay, relayedShard } from '../helpers/relay.js'
import { startTestCluster, type TestCluster } from '../helpers/test-cluster.js'
import { sharedShards } from '../support/shared-cluster.js'

/**
 * A PREPARE that runs on the server but whose answer never comes (here: the relay stops
 * carrying answers once it is sent; in the wild, a timeout that leaves it a few ms). The
 * branch is prepared and holds its row locks. The coordinator, which has decided nothing,
 * rolls it back itself while aborting: it ends the session that sent the PREPARE and rolls
 * back from another connection. Before, it stayed prepared until background recovery.
 */
describe.each<Dialect>(['postgres', 'mysql'])('a PREPARE whose answer never comes (%s)', (dialect) => {
  let t: TestCluster
  let relay: Relay
  let accounts: string
  let muteAtPrepare = false
  const log = sharedShards(dialect === 'postgres' ? 'mysql' : 'postgres')[0]!

  beforeAll(async () => {
    const relayed = await relayedShard(sharedShards(dialect)[0]!, 'flaky')
    relay = relayed.relay
    await relay.open()
    t = await startTestCluster([log, relayed.shard], {
      log: log.id,
      onStep: (event) => {
        if (event.step === 'prepare' && event.shardId === 'flaky' && muteAtPrepare) {
          muteAtPrepare = false
          // Synchronously: the PREPARE goes out next, and its answer is dropped.
          relay.muteAnswers()
        }
      },
    })
    accounts = t.table('accounts')
    await t.createAccounts(accounts, [log.id, 'flaky'], [{ id: 1, balance: 0 }])
  })

  afterAll(async () => {
    await t?.close()
    await relay.close()
  })

  it('the transaction times out, and no branch is left prepared holding its locks', async () => {
    muteAtPrepare = true
    const error = await t.cluster
      .transaction(
        async (tx) => {
          await tx.forShard(log.id)(accounts).where({ id: 1 }).increment('balance', 1)
          await tx.forShard('flaky')(accounts).where({ id: 1 }).increment('balance', 1)
        },
        { timeout: 1_500 },
      )
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(TransactionAbortedError)
    expect((error as TransactionAbortedError).cause).toBeInstanceOf(TransactionTimeoutError)
    expect((error as TransactionAbortedError).retryable).toBe(false)
    // Nothing prepared: no recovery has run (the test cluster has none in the background).
    expect(await t.preparedBranches()).toEqual([])
    // And the row is free: a transaction on it commits at once.
    await t.cluster.transaction(async (tx) => {
      await tx.forShard('flaky')(accounts).where({ id: 1 }).increment('balance', 5)
    }, { lockTimeout: 1_000 })
    expect((await t.balances(accounts, 'flaky')).get(1)).toBe(5)
    expect((await t.balances(accounts, log.id)).get(1)).toBe(0)
  })
})
