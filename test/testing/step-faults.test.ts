import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createCluster, TransactionAbortedError, TransactionInDoubtError, type Cluster } from '../../src/index.js'
import { startLocalCluster, type LocalCluster } from '../../src/testing/index.js'
import { pollUntil } from '../../src/testing/poll-until.js'
import { runWithStepFault, StepFaults } from '../helpers/step-faults.js'

// The helper a liveness matrix uses: a cross-shard transaction whose network
// breaks at an exact protocol step. Checked here with resets, which settle
// today; black-holes need the library's own deadlines.

let local: LocalCluster
let cluster: Cluster
const faults = { hooks: undefined as unknown as StepFaults }
const table = 'step_faults'

beforeAll(async () => {
  local = await startLocalCluster({ postgres: 1, mysql: 1, durable: false, faults: true })
  faults.hooks = new StepFaults(local)
  // A short timeout and no grace let recovery judge the in-doubt transaction soon after.
  cluster = createCluster({
    shards: local.shards,
    log: 'pg-0',
    timeout: 3_000,
    recovery: { enabled: false, graceMs: 0 },
    onStep: faults.hooks.onStep,
  })
  await cluster.migrate()
  for (const id of cluster.shardIds) {
    await cluster.forShard(id).schema.createTable(table, (t) => {
      t.integer('id').primary()
    })
  }
})
afterAll(async () => {
  await cluster?.close()
  await local?.destroy()
})

let nextId = 1
function transfer(): Promise<void> {
  const id = nextId++
  return cluster.transaction(async (tx) => {
    await tx.forShard('pg-0')(table).insert({ id })
    await tx.forShard('my-0')(table).insert({ id })
  })
}

describe('runWithStepFault', () => {
  test('resetting the log shard at decide leaves the transaction in doubt, struck at that step', async () => {
    const { outcome, struck } = await runWithStepFault(local, faults.hooks, transfer, { step: 'decide', target: 'pg-0', mode: 'reset' })
    expect(struck).toMatchObject({ step: 'decide' })
    expect(outcome).toMatchObject({ status: 'rejected', reason: expect.any(TransactionInDoubtError) })
  })

  test('resetting a participant at its prepare aborts the transaction', async () => {
    const { outcome, struck } = await runWithStepFault(local, faults.hooks, transfer, {
      step: 'prepare',
      stepShard: 'my-0',
      target: 'my-0',
      mode: 'reset',
    })
    expect(struck).toMatchObject({ step: 'prepare', shardId: 'my-0' })
    expect(outcome).toMatchObject({ status: 'rejected', reason: expect.any(TransactionAbortedError) })
  })

  test('a step the transaction never takes leaves it alone, and the path is healed afterwards', async () => {
    const { outcome, struck } = await runWithStepFault(local, faults.hooks, transfer, { step: 'recover-resolved', target: 'my-0', mode: 'reset' })
    expect(struck).toBeUndefined()
    expect(outcome).toMatchObject({ status: 'fulfilled' })
    await expect(transfer()).resolves.toBeUndefined()
  })

  test('after healing, recovery leaves every transaction all or nothing with nothing in doubt', async () => {
    // Recovery leaves a branch alone until its transaction's deadline has passed.
    await pollUntil(async () => {
      await cluster.recover()
      return (await cluster.inDoubt()).length === 0
    }, { timeoutMs: 30_000, intervalMs: 200, onTimeout: () => new Error('recovery did not finish the in-doubt transactions') })
    const pg = (await cluster.forShard('pg-0')(table).select('id').orderBy('id')) as { id: number }[]
    const my = (await cluster.forShard('my-0')(table).select('id').orderBy('id')) as { id: number }[]
    expect(pg).toEqual(my)
    expect(pg.length).toBeGreaterThan(0)
  })
})
