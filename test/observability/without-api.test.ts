import { describe, expect, it, vi } from 'vitest'
import { loadOpenTelemetry, openTelemetryApi } from '../../src/observability/load-opentelemetry.js'
import { createTelemetry } from '../../src/observability/otel-telemetry.js'
import { NO_TELEMETRY } from '../../src/observability/telemetry.js'
import { accountsCluster } from './accounts-cluster.js'

// As if the optional peer dependency were not installed: importing it fails.
vi.mock('@opentelemetry/api', () => {
  throw Object.assign(new Error("Cannot find package '@opentelemetry/api'"), { code: 'ERR_MODULE_NOT_FOUND' })
})

describe('without @opentelemetry/api', () => {
  const setup = accountsCluster()

  it('loads no api, and the cluster gets the telemetry that does nothing', async () => {
    const { t, accounts } = setup
    expect(openTelemetryApi).toBeUndefined()
    expect(createTelemetry([], 'pg-0')).toBe(NO_TELEMETRY)
    const notFound = Object.assign(new Error('Cannot find package'), { code: 'ERR_MODULE_NOT_FOUND' })
    expect(await loadOpenTelemetry(() => Promise.reject(notFound))).toBeUndefined()
    expect(await loadOpenTelemetry(() => Promise.resolve({}))).toBeUndefined()
  })

  it('still runs every commit path, an abort and a recovery round', async () => {
    const { t, accounts } = setup
    await t.cluster.transaction(async (tx) => {
      await tx.forShard('pg-1')(accounts).where({ id: 1 }).decrement('balance', 1)
      await tx.forShard('my-1')(accounts).where({ id: 1 }).increment('balance', 1)
    })
    await t.cluster.transaction(async (tx) => {
      await tx.forShard('pg-1')(accounts).where({ id: 1 }).increment('balance', 1)
    })
    await t.cluster.transaction(async (tx) => tx.forShard('my-1')(accounts).select())
    await expect(
      t.cluster.transaction(async (tx) => {
        await tx.forShard('pg-1')(accounts).where({ id: 1 }).increment('balance', 1)
        throw new Error('stop')
      }),
    ).rejects.toThrow('stop')
    await t.cluster.recover()
    expect(t.cluster.stats().commits).toEqual({ readOnly: 1, onePhase: 1, twoPhase: 1 })
    expect((await t.balances(accounts, 'pg-1')).get(1)).toBe(100)
    expect((await t.balances(accounts, 'my-1')).get(1)).toBe(101)
  })
})
